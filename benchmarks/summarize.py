#!/usr/bin/python3
"""Reads the JSON lines of run_benchmarks.sh (one file per workload, one line per program run)
and prints the markdown tables of issue 8: per workload and config the gfnlm and PyTorch
medians, the speed-up (PyTorch median / gfnlm median), throughput, peak resident memory and the
share of the OpenBLAS GEMM ceiling reached; then the GEMM table.

Usage: summarize.py RESULTS_DIR [BLAS_LINE] [BLAS_LINE_TORCH2]

Peers run on Debian's torch ("pytorch") and, where the driver found one, on PyTorch 2.x from PyPI
("pytorch2"): each gets its own median, speed-up and peak-memory columns.
"""
import glob
import json
import os
import sys

# Shapes by config name (vocab, layers, d_model) for the FLOP estimates below.
SHAPES = {"toy": (64, 4, 128), "gpt2": (50257, 12, 768)}
PEERS = [("pytorch", "PyTorch"), ("pytorch2", "PyTorch 2.x")]
ORDER = ["train_step", "sample", "gfn_step"]


def matmul_flop_per_token(config):
    V, L, C = SHAPES[config]
    return 2.0 * (12 * C * C * L + C * V)  # qkv 3C^2 + proj C^2 + fc 4C^2 + fc_proj 4C^2, head


def workload_gflop(row):
    """Model FLOPs of one timed unit (step or generation), or None where not known."""
    config, w = row.get("config"), row.get("workload")
    if config not in SHAPES:
        return None
    V, L, C = SHAPES[config]
    if w == "train_step":  # forward + backward = 3x forward; attention scores and values 2 T^2 C
        B, T = row["B"], row["T"]
        return 3 * (B * T * matmul_flop_per_token(config) + 2 * 2 * B * L * T * T * C) * 1e-9
    if w == "sample":  # every position decoded once; a token at position p attends to p + 1
        B, P, N = row["B"], row["prompt"], row["new_tokens"]
        positions = P + N - 1
        attn = sum(2 * 2 * (p + 1) * C * L for p in range(positions))
        return B * (positions * matmul_flop_per_token(config) + attn) * 1e-9
    return None


def load(results):
    rows = []
    for path in sorted(glob.glob(os.path.join(results, "*.jsonl"))):
        workload = os.path.basename(path)[: -len(".jsonl")]
        for line in open(path):
            line = line.strip()
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            row.setdefault("workload", workload)
            rows.append(row)
    return rows


def tokens_per_s(row):
    """Tokens per second as the program counts them (gfn_step: rollout tokens per step)."""
    if not row:
        return None
    return row.get("tokens_per_s", row.get("rollout_tokens_per_s"))


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def main():
    rows = load(sys.argv[1])
    blas_line = sys.argv[2] if len(sys.argv) > 2 else ""
    gemm = [r for r in rows if r.get("workload") == "gemm"]
    ceiling = {(r["config"], r["phase"]): r["openblas_gflops"] for r in gemm if r.get("summary")}
    by = {(r["workload"], r["config"], r["impl"]): r for r in rows if r.get("workload") != "gemm"}
    keys = sorted({(w, c) for (w, c, _) in by},
                  key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else 99, k[1] != "toy", k[1]))
    threads = {r.get("threads") for r in rows if "threads" in r}
    peers = [(impl, name) for impl, name in PEERS if any(k[2] == impl for k in by)]
    head = ["workload", "config", "gfnlm median ms"]
    for _, name in peers:
        head += [f"{name} median ms", f"speed-up vs {name}"]
    head += ["gfnlm tok/s", "gfnlm GFLOP/s (of OpenBLAS)", "gfnlm peak RSS MB"]
    head += [f"{name} peak RSS MB" for _, name in peers]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for w, c in keys:
        g = by.get((w, c, "gfnlm"))
        gm = g["median_ms"] if g else None
        cells = [w, c, fmt(gm)]
        for impl, _ in peers:
            p = by.get((w, c, impl))
            pm = p["median_ms"] if p else None
            cells += [fmt(pm), f"{pm / gm:.2f}x" if gm and pm else "-"]
        rate = "-"
        flop = workload_gflop(g) if g else None
        if flop and gm:
            gflops = flop / (gm / 1000)
            top = ceiling.get((c, "decode" if w == "sample" else "train"))
            rate = f"{gflops:.1f}" + (f" ({gflops / top:.0%})" if top else "")
        cells += [fmt(tokens_per_s(g), ".0f"), rate,
                  fmt(g.get("peak_rss_mb") if g else None, ".0f")]
        for impl, _ in peers:
            p = by.get((w, c, impl))
            cells.append(fmt(p.get("peak_rss_mb") if p else None, ".0f"))
        print("| " + " | ".join(cells) + " |")
    print()
    print(f"Threads: {', '.join(str(t) for t in sorted(threads, key=str))} (both sides). "
          "Speed-up = peer median / gfnlm median. GFLOP/s: model FLOPs (matmuls + attention) "
          "per median (train_step, sample); in brackets its share of OpenBLAS's FLOP-weighted GEMM "
          "rate at that config's shapes (train shapes for train_step, decode shapes for sample). "
          "tok/s: train_step B*T per step, sample new tokens, gfn_step rollout tokens per step. "
          "gfn_step NAME_QxNxL: queries x trajectories x tokens.")
    if blas_line:
        print(f"PyTorch (Debian): {blas_line}")
    if len(sys.argv) > 3 and sys.argv[3]:
        print(f"PyTorch 2.x (PyPI): {sys.argv[3]}")
    if gemm:
        print()
        print("| config | layer | product | M x N x K | gfnlm GFLOP/s | OpenBLAS GFLOP/s | "
              "gfnlm / OpenBLAS |")
        print("|---|---|---|---|---|---|---|")
        for r in gemm:
            if r.get("summary"):
                print(f"| {r['config']} | all ({r['phase']}, FLOP-weighted) | | "
                      f"{r['gflop']:.2f} GFLOP | **{r['ours_gflops']:.1f}** | "
                      f"**{r['openblas_gflops']:.1f}** | **{r['ratio']:.2f}** |")
            else:
                print(f"| {r['config']} | {r['layer']} ({r['phase']}) | {r['op']} | "
                      f"{r['m']} x {r['n']} x {r['k']} | {r['ours_gflops']:.1f} | "
                      f"{r['openblas_gflops']:.1f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
