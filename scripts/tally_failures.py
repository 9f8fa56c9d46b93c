#!/usr/bin/env python3
"""Counts each method's wrong votes in an arithmetic run's votes.csv by shape.

short: fewer "=" steps than the question needs; long: more; garbled: the right number of steps,
one of them with two operators ("2 - 7 + 8 ="); copy: the right number of well-formed steps with a
wrong operand or operator copied. Usage: scripts/tally_failures.py OUT_DIR/votes.csv [...]
"""
import csv
import sys
from collections import defaultdict


def main(paths):
    tally = defaultdict(lambda: [0, 0, 0, 0, 0, 0])  # problems, wrong, short, copy, long, garbled
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                t = tally[(row["method"], int(row["operands"]))]
                t[0] += 1
                if row["vote"] == row["answer"]:
                    continue
                t[1] += 1
                steps = row["first_rationale"].count("=")
                need = int(row["operands"]) - 1
                garbled = any(
                    sum(w in ("+", "-") for w in step.split("=")[0].split()) > 1
                    for step in row["first_rationale"].split(",")
                )
                t[2 if steps < need else 4 if steps > need else 5 if garbled else 3] += 1
    print("| method, operands | problems | wrong | short / copy / garbled / long |")
    print("|---|---|---|---|")
    for (method, n), (total, wrong, short, copy, long_, garbled) in sorted(tally.items()):
        print(f"| {method}, {n} | {total} | {wrong} | {short} / {copy} / {garbled} / {long_} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
