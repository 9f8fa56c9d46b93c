"""What the PyTorch peers of gfnlm's benchmarks share: the GPT-2 of train_step.cpp / sample.cpp
(pre-LN, tied head, tanh GELU, optional past keys/values), and what every peer reports besides its
timings: which BLAS torch really uses (a ratio against the reference BLAS, 60x slower, would be
void) and the process's peak resident memory."""
import math
import resource
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def report_blas():
    """Prints torch's build configuration and the BLAS libraries mapped into this process on
    stderr; returns "OpenBLAS" or "other"."""
    print(torch.__config__.show(), file=sys.stderr)
    # Debian's torch is built against the generic libblas.so.3, which the alternatives system
    # points at OpenBLAS: ask the loader which BLAS is really mapped after one product.
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as maps:
        mapped = sorted({line.split()[-1] for line in maps if "blas" in line.lower()})
    print("BLAS libraries mapped: " + ", ".join(mapped), file=sys.stderr)
    # PyPI's wheels link MKL statically (nothing mapped): the build configuration names it.
    built = next((part.split("=", 1)[1] for part in torch.__config__.show().replace(",", " ").split()
                  if part.startswith("BLAS_INFO=")), "unknown")
    blas = "OpenBLAS" if any("openblas" in m for m in mapped) else built
    print(f"torch {torch.__version__}, BLAS: {blas}, threads {torch.get_num_threads()}",
          file=sys.stderr)
    return blas


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


class Block(nn.Module):
    def __init__(self, C, NH, sdpa=False):
        super().__init__()
        self.NH, self.sdpa = NH, sdpa  # sdpa: PyTorch's fused attention (no past) instead of ours
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x, mask, past):
        """x: [B, T, C] new positions; past: (k, v) [B, NH, P, hs] or None. Returns x, (k, v)."""
        B, T, C = x.shape
        hs = C // self.NH
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.NH, hs).transpose(1, 2) for t in (q, k, v))
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        P = k.shape[2] - T
        if self.sdpa and P == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
            if T > 1:  # one new position sees every cached one: no mask needed
                att = att.masked_fill(mask[P:P + T, :P + T] == 0, float("-inf"))
            y = att.softmax(dim=-1) @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")), (k, v)


class GPT(nn.Module):
    def __init__(self, V, maxT, L, NH, C, sdpa=False):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(maxT, C)
        self.h = nn.ModuleList(Block(C, NH, sdpa) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.register_buffer("mask", torch.tril(torch.ones(maxT, maxT)))
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, past=None):
        T = idx.shape[1]
        P = 0 if past is None else past[0][0].shape[2]
        x = self.wte(idx) + self.wpe(torch.arange(P, P + T, device=idx.device))
        new_past = []
        for i, block in enumerate(self.h):
            x, kv = block(x, self.mask, None if past is None else past[i])
            new_past.append(kv)
        return self.ln_f(x) @ self.wte.weight.T, new_past  # tied head
