#!/usr/bin/env python3
"""Sums Nsight Compute's per-kernel durations by kernel name and prints the top entries with their
share of the total: where a GPU step spends its time.

  ncu --metrics gpu__time_duration.sum --clock-control none --csv --print-units base \\
      build/cuda/gpt2_step_cuda --steps 1 > profile.csv
  python3 benchmarks/kernel_profile.py profile.csv [--top 25]
"""
import argparse
import collections
import csv
import re


def short_name(name):
    """Kernel name without its argument list and template arguments' noise."""
    name = re.sub(r"\(.*", "", name)
    return name[:90]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    with open(args.csv, newline="") as f:
        lines = [line for line in f if line.startswith('"')]  # skip the program's own output
    total = collections.Counter()
    count = collections.Counter()
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(row["Metric Value"].replace(",", ""))
        ns = value if row.get("Metric Unit") in ("ns", "nsecond") else value * 1e3  # base: ns
        key = short_name(row["Kernel Name"])
        total[key] += ns
        count[key] += 1
    grand = sum(total.values())
    print(f"{grand / 1e6:.2f} ms in {sum(count.values())} kernel launches")
    print(f"{'ms':>8} {'share':>6} {'calls':>6}  kernel")
    for key, ns in total.most_common(args.top):
        print(f"{ns / 1e6:8.2f} {100 * ns / grand:5.1f}% {count[key]:6d}  {key}")


if __name__ == "__main__":
    main()
