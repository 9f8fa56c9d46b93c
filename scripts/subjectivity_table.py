#!/usr/bin/env python3
"""Merges the results.json of several examples/subjectivity runs (e.g. one per k) into the
markdown tables of docs/subjectivity.md: accuracy per method and k (mean ± sample sd over seeds,
the paper's figure beside), and the EM diagnostics per k.

    scripts/subjectivity_table.py runs/subj_k10 runs/subj_k20_50 runs/subj_kall
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def mean_sd(values):
    if not values:
        return "-"
    m = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.1f} ± {sd:.1f} (n={len(values)})"


def main(folders):
    acc = defaultdict(lambda: defaultdict(list))  # method -> k -> [accuracy %]
    diag = defaultdict(lambda: defaultdict(list))  # k -> name -> [value]
    methods, ks, test_items, paper = [], [], set(), {}
    for folder in folders:
        d = json.loads((Path(folder) / "results.json").read_text())
        test_items.add(d["test_items"])
        paper = d.get("paper_at_10", paper)
        for run in d["runs"]:
            if not run:
                continue
            k = run["k"]
            if k not in ks:
                ks.append(k)
            for m in run["methods"]:
                if m["method"] not in methods:
                    methods.append(m["method"])
                acc[m["method"]][k].append(100 * m["accuracy"])
            diag[k]["majority %"].append(100 * run["majority_share"])
            diag[k]["few-shot demonstrations that fit"].append(run["few_shot_examples"])
            for i, r in enumerate(run["em_rounds"]):
                diag[k][f"round {i + 1}: classifier right from E-step Z %"].append(
                    100 * r["right_share"])
                diag[k][f"round {i + 1}: distinct Z per example"].append(
                    r["distinct_rationales"] / run["labelled"])
            if run["em_rounds"]:
                diag[k]["oracle: Z ~ q(Z \\| X, true Y) %"].append(100 * run["oracle_true_label"])
                diag[k]["oracle: Z ~ q(Z \\| X, wrong Y) %"].append(100 * run["oracle_wrong_label"])
    name = lambda k: "all" if k == 0 else str(k)
    print(f"Test sentences per run: {sorted(test_items)}\n")
    print("| method | " + " | ".join(f"k = {name(k)}" for k in ks) + " | paper, k = 10 |")
    print("|---" * (len(ks) + 2) + "|")
    for m in methods:
        cells = [mean_sd(acc[m][k]) for k in ks]
        print(f"| {m} | " + " | ".join(cells) + f" | {paper.get(m, '-')} |")
    print()
    rows = []
    for k in ks:
        for key in diag[k]:
            if key not in rows:
                rows.append(key)
    print("| diagnostic | " + " | ".join(f"k = {name(k)}" for k in ks) + " |")
    print("|---" * (len(ks) + 1) + "|")
    for key in rows:
        print(f"| {key} | " + " | ".join(mean_sd(diag[k][key]) for k in ks) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
