#!/usr/bin/env python3
"""Writes a data directory whose test files are validation problems, for choosing settings.

The training files are copied from the paper's directory; test_3/4/5_operands.json are replaced by
500 fresh problems each (one-digit operands, + and -, a fixed seed), none of them a question of the
paper's test or training files. `arithmetic --data OUT_DIR` then reports validation accuracy
where the table reports test accuracy. Usage: scripts/make_validation_sets.py PAPER_DIR OUT_DIR
"""
import json
import random
import shutil
import sys
from pathlib import Path


def question(operands, operators):
    text = str(operands[0])
    for op, x in zip(operators, operands[1:]):
        text += f" {op} {x}"
    return f"Question: {text} = ? Answer:"


def main(paper, out, per_set=500, seed=20261126):
    paper, out = Path(paper), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seen = set()
    for f in paper.glob("*.json"):
        seen.update(item["str_query"] for item in json.loads(f.read_text()))
        if f.name.startswith("train_"):
            shutil.copy(f, out / f.name)
    rng = random.Random(seed)
    for n in (3, 4, 5):
        items = []
        while len(items) < per_set:
            operands = [rng.randrange(10) for _ in range(n)]
            operators = [rng.choice("+-") for _ in range(n - 1)]
            q = question(operands, operators)
            if q in seen:
                continue
            seen.add(q)
            value = operands[0]
            for op, x in zip(operators, operands[1:]):
                value = value + x if op == "+" else value - x
            items.append({"str_query": q, "num_sol": value})
        (out / f"test_{n}_operands.json").write_text(json.dumps(items, indent=1))
    print(f"wrote {out}: train files copied, 3 x {per_set} validation problems (seed {seed})")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
