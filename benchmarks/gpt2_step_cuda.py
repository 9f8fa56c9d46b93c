#!/usr/bin/env python3
"""PyTorch peer of examples/gpt2_step_cuda.cu on the same GPU: GPT-2 124M (pre-LN, tied head, tanh
GELU, vocabulary 50257), one training step = forward + mean cross-entropy + backward + gradient
clipping at 1.0 + AdamW, random tokens, B x T tokens per step. Prints one JSON line per variant
(tokens/s, MFU = (6N + 6 L C T) tokens/s / peak) and a table last.

Variants: `fp32` the same arithmetic as gfnlm's float32 step (materialised causal attention, TF32
off); `fp32-sdpa` PyTorch's fused attention in float32; `tf32-sdpa` tensor-core float32 GEMMs;
`bf16-sdpa` bf16 autocast with flash attention (float32 master weights, fused AdamW); add
`bf16-compile` for torch.compile of the last (a minute of compilation).

  python3 benchmarks/gpt2_step_cuda.py --batch 8 --seq 1024 --variants fp32,bf16-sdpa
"""
import argparse
import json
import sys

import torch
import torch.nn.functional as F
from peer import GPT


def run(variant, args):
    V, L, NH, C = 50257, 12, 12, 768
    B, T = args.batch, args.seq
    torch.backends.cuda.matmul.allow_tf32 = variant.startswith("tf32")
    torch.backends.cudnn.allow_tf32 = variant.startswith("tf32")
    torch.manual_seed(1)
    dev = torch.device("cuda")
    model = GPT(V, T, L, NH, C, sdpa=variant != "fp32").to(dev)
    forward = model
    if variant.endswith("compile"):
        forward = torch.compile(model)
    bf16 = variant.startswith("bf16")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0, fused=True)
    idx = torch.randint(0, V, (B, T), device=dev)

    def loss_of(m):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            logits = m(idx)[0]
        return F.cross_entropy(logits.float().view(-1, V), idx.view(-1))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_of(forward)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(args.steps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        loss = step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    median = sorted(times)[len(times) // 2]
    n = sum(p.numel() for p in model.parameters())
    tokens_per_s = B * T / (median / 1000)
    flops_per_token = 6 * n + 6 * L * C * T
    peak = args.peak_bf16 if bf16 else args.peak_bf16 / 2 if variant.startswith("tf32") else args.peak_fp32
    result = {"impl": "pytorch", "variant": variant, "device": torch.cuda.get_device_name(),
              "torch": torch.__version__, "batch": B, "seq": T, "parameters": n,
              "median_ms": median, "times_ms": times, "tokens_per_s": tokens_per_s,
              "peak_tflops": peak, "mfu": flops_per_token * tokens_per_s / (peak * 1e12),
              "loss": loss.item(), "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30}
    print(json.dumps(result), flush=True)
    del model, opt
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--variants", default="fp32,fp32-sdpa,tf32-sdpa,bf16-sdpa")
    # H100 / H200 SXM dense peaks: float32 without tensor cores 67 TFLOP/s, bf16 989 (tf32 half).
    ap.add_argument("--peak-fp32", type=float, default=67.0)
    ap.add_argument("--peak-bf16", type=float, default=989.0)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device")
    rows = [run(v, args) for v in args.variants.split(",")]
    print(f"{'variant':<14}{'ms/step':>10}{'tokens/s':>12}{'MFU':>8}", file=sys.stderr)
    for r in rows:
        print(f"{r['variant']:<14}{r['median_ms']:>10.1f}{r['tokens_per_s']:>12.0f}"
              f"{100 * r['mfu']:>7.1f}%", file=sys.stderr)


if __name__ == "__main__":
    main()
