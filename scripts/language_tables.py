#!/usr/bin/env python3
"""Markdown tables of the language experiments over seeds (docs/language.md): mean and standard
deviation of each method's figures across the results.json files that sentence_continuation and
story_infilling wrote, one run directory per seed.

  scripts/language_tables.py continuation runs/sc_s0 runs/sc_s1 runs/sc_s2
  scripts/language_tables.py infilling runs/si_s0 runs/si_s1 runs/si_s2
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

CONTINUATION = [("mean_log_likelihood", "mean LL", 2), ("max_log_likelihood", "max LL", 2),
                ("edit_diversity", "edit div", 3), ("distinct_2", "distinct-2", 3)]
INFILLING = [("bleu4", "BLEU-4", 4), ("gleu4", "GLEU-4", 4), ("log_p_xzy", "log p(XZY)", 2),
             ("log_p_zy_given_x", "log p(ZY|X)", 2), ("edit_diversity", "edit div", 3),
             ("distinct_2", "distinct-2", 3), ("mean_tokens", "tokens", 1)]
DIAGNOSIS = [("ref_above_median_sample", "ref > median", 3), ("ref_above_every_sample", "ref > all", 3),
             ("reward_bleu_correlation", "corr(log R, BLEU)", 3)]


def load(dirs):
    runs = []
    for d in dirs:
        j = json.loads((Path(d) / "results.json").read_text())
        if not j.get("complete"):
            sys.exit(f"{d}/results.json: the run did not complete")
        if j.get("quick"):
            sys.exit(f"{d}/results.json: a --quick run; its figures mean nothing")
        runs.append(j)
    return runs


def cell(values, decimals):
    m = statistics.fmean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.{decimals}f} ± {s:.{decimals}f}"


def table(runs, key, columns, name_of):
    rows = {}
    for run in runs:
        for m in run[key]:
            rows.setdefault(name_of(m), []).append(m)
    out = ["| method | " + " | ".join(c[1] for c in columns) + " |",
           "|---|" + "---|" * len(columns)]
    for name, ms in rows.items():
        if len(ms) != len(runs):
            sys.exit(f"method {name} is in {len(ms)} of {len(runs)} runs")
        out.append(f"| {name} | " + " | ".join(cell([m[c[0]] for m in ms], c[2]) for c in columns)
                   + " |")
    return "\n".join(out)


def spread(run):
    curve = [p["log_z_spread"] for p in run.get("curve", run.get("gfn_curve", []))]
    tenth = max(1, len(curve) // 10)
    return statistics.fmean(curve[:tenth]), statistics.fmean(curve[-tenth:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("experiment", choices=["continuation", "infilling"])
    ap.add_argument("runs", nargs="+", help="run directories, one per seed")
    a = ap.parse_args()
    runs = load(a.runs)
    print(f"{len(runs)} seeds: {', '.join(str(r['seed']) for r in runs)}\n")
    if a.experiment == "continuation":
        print(table(runs, "methods", CONTINUATION,
                    lambda m: f"{m['method']} {m['setting']}".strip()))
    else:
        print(table(runs, "methods", INFILLING, lambda m: m["method"]))
        print("\nReward diagnosis (log p(Z_ref Y | X) against each method's samples):\n")
        print(table(runs, "diagnosis", DIAGNOSIS, lambda m: m["method"]))
    first, last = zip(*(spread(r) for r in runs))
    print(f"\nlog Z estimate's spread, first tenth of training {cell(first, 2)}, "
          f"last tenth {cell(last, 2)}")


if __name__ == "__main__":
    main()
