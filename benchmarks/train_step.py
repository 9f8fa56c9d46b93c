#!/usr/bin/python3
"""PyTorch peer of train_step.cpp: the same GPT-2 (pre-LN, tied head, tanh GELU), the same step
(forward + mean cross-entropy + backward + AdamW), the same sizes, torch.set_num_threads(N).
Prints torch's build configuration (BLAS backend) on stderr and one JSON line on stdout.

Run with Debian's torch: /usr/bin/python3 benchmarks/train_step.py --config toy --threads 2
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

    def forward(self, x, mask):
        B, T, C = x.shape
        hs = C // self.NH
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.NH, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(mask[:T, :T] == 0, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


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

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for block in self.h:
            x = block(x, self.mask)
        return self.ln_f(x) @ self.wte.weight.T  # tied head


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=["toy", "gpt2"], default="toy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    blas = report_blas()

    if args.config == "toy":
        V, maxT, L, NH, C, B, T = 64, 64, 4, 4, 128, 32, 64
    else:
        V, maxT, L, NH, C, B, T = 50257, 1024, 12, 12, 768, 4, 128
    torch.manual_seed(1)
    model = GPT(V, maxT, L, NH, C)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    idx = torch.randint(0, V, (B, T))
    targets = torch.randint(0, V, (B, T))
    times = []
    for i in range(args.warmup + args.iters):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(idx).view(-1, V), targets.view(-1))
        loss.backward()
        opt.step()
        dt = (time.perf_counter() - t0) * 1000
        if i >= args.warmup:
            times.append(dt)
    s = sorted(times)
    median = s[len(s) // 2]
    print(json.dumps({"impl": "pytorch", "workload": "train_step", "config": args.config,
                      "threads": args.threads,
                      "params": sum(p.numel() for p in model.parameters()), "B": B, "T": T,
                      "median_ms": median, "min_ms": s[0], "times_ms": times,
                      "tokens_per_s": B * T / (median / 1000), "final_loss": loss.item(),
                      "peak_rss_mb": peak_rss_mb(), "blas": blas, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
