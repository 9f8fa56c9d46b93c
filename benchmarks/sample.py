#!/usr/bin/python3
"""PyTorch peer of sample.cpp: the GPT-2 of train_step.py extended with a past key/value cache,
batched ancestral sampling at temperature 1 from a fixed prompt (the prompt in one forward pass,
then one token per row per step), torch.multinomial, no early stop, under torch.inference_mode.
Like gfnlm's decode (and Hugging Face's GPT-2), the prompt pass computes every position's logits.
Prints torch's BLAS on stderr and one JSON line on stdout.

Run with Debian's torch: /usr/bin/python3 benchmarks/sample.py --config toy --threads 2
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from peer import peak_rss_mb, report_blas


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
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
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        if T > 1:  # one new position sees every cached one: no mask needed
            att = att.masked_fill(mask[P:P + T, :P + T] == 0, float("-inf"))
        y = (att.softmax(dim=-1) @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")), (k, v)


class GPT(nn.Module):
    def __init__(self, V, maxT, L, NH, C):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(maxT, C)
        self.h = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.register_buffer("mask", torch.tril(torch.ones(maxT, maxT)))
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, past=None):
        T = idx.shape[1]
        P = 0 if past is None else past[0][0].shape[2]
        x = self.wte(idx) + self.wpe(torch.arange(P, P + T))
        new_past = []
        for i, block in enumerate(self.h):
            x, kv = block(x, self.mask, None if past is None else past[i])
            new_past.append(kv)
        return self.ln_f(x) @ self.wte.weight.T, new_past  # tied head


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=["toy", "gpt2"], default="toy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--prompt", type=int, default=8)
    ap.add_argument("--new", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    blas = report_blas()

    if args.config == "toy":
        V, maxT, L, NH, C, B, N = 64, 64, 4, 4, 128, 32, 32
    else:
        V, maxT, L, NH, C, B, N = 50257, 1024, 12, 12, 768, 8, 64
    B = args.batch or B
    N = args.new or N
    torch.manual_seed(1)
    model = GPT(V, maxT, L, NH, C).eval()
    prompt = torch.randint(0, V, (1, args.prompt)).expand(B, -1).contiguous()
    times = []
    checksum = 0
    with torch.inference_mode():
        for i in range(args.warmup + args.iters):
            t0 = time.perf_counter()
            logits, past = model(prompt)
            tok = torch.multinomial(logits[:, -1].softmax(dim=-1), 1)
            for _ in range(1, N):
                logits, past = model(tok, past)
                tok = torch.multinomial(logits[:, -1].softmax(dim=-1), 1)
            dt = (time.perf_counter() - t0) * 1000
            if i >= args.warmup:
                times.append(dt)
            checksum += int(tok.sum())
    s = sorted(times)
    median = s[len(s) // 2]
    print(json.dumps({"impl": "pytorch", "workload": "sample", "config": args.config,
                      "threads": args.threads, "params": sum(p.numel() for p in model.parameters()),
                      "B": B, "prompt": args.prompt, "new_tokens": N, "median_ms": median,
                      "min_ms": s[0], "tokens_per_s": B * N / (median / 1000), "times_ms": times,
                      "checksum": checksum, "peak_rss_mb": peak_rss_mb(), "blas": blas,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
