#!/usr/bin/python3
"""PyTorch peer of train_step.cpp: the same GPT-2 (pre-LN, tied head, tanh GELU), the same step
(forward + mean cross-entropy + backward + AdamW), the same sizes, torch.set_num_threads(N).
Prints torch's build configuration (BLAS backend) on stderr and one JSON line on stdout.

Run with Debian's torch: /usr/bin/python3 benchmarks/train_step.py --config toy --threads 2
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from peer import GPT, peak_rss_mb, report_blas


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
        loss = F.cross_entropy(model(idx)[0].view(-1, V), targets.view(-1))
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
