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
import time

import torch
from peer import GPT, peak_rss_mb, report_blas


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
