#!/usr/bin/env python3
"""Writes tests/reference/bleu/fixture.json: nltk's sentence BLEU-4 (method1) and GLEU-4 on
hypothesis / reference sets in the style of TinyStories, the oracle for tests/eval/test_bleu.cpp.

The sentences are embedded here (some from TinyStories paragraphs, some made up) so the fixture
does not depend on a data file. Words are str.split(), as gfnlm::split_words does.

    python3 -m venv build/venv-eval && build/venv-eval/bin/pip install nltk
    build/venv-eval/bin/python tests/reference/make_bleu_fixture.py
"""
import json
import pathlib
import re

import nltk
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.translate.gleu_score import sentence_gleu

# (hypothesis, [references]): empty, short (< 4 words), identical, disjoint, repeated words, several
# references of different lengths (the brevity penalty takes the closest, the shorter on a tie).
CASES = [
    ("Roxy loved to climb.", ["Roxy loved to climb."]),
    ("Roxy loved to climb trees.", ["Roxy loved to climb."]),
    ("Roxy loved to climb.", ["Roxy loved to climb trees and rocks."]),
    ("The cow was sad.", ["The cow was sad.", "The big cow was very sad today."]),
    ("The farmer did not know why.", ["The farmer did not know why the cow was sad."]),
    ("Max liked to play in the yard.", ["Max liked to play in the big yard.",
                                        "Max played in the yard every day."]),
    ("Daisy would watch and smile.", ["Daisy would watch Max and smile.",
                                      "Daisy watched and smiled.", "She would watch and smile."]),
    ("Sue was happy to help.", ["Sue was very happy to help her mom."]),
    ("Sue was happy to help.", ["Tom ran to the park."]),
    ("the the the the the the the", ["the cat is on the mat.", "there is a cat on the mat."]),
    ("the cat the cat the cat", ["the cat sat on the mat."]),
    ("cat", ["cat"]),
    ("cat", ["the cat"]),
    ("a big dog", ["a big dog"]),
    ("a big dog", ["a big red dog ran."]),
    ("big dog", ["the dog is big."]),
    ("Yes!", ["Yes!", "No."]),
    ("hello", ["goodbye"]),
    ("One day, Lily went to the park with her mom.",
     ["One day, Lily went to the park.", "Lily and her mom went to the park one day."]),
    ("Once upon a time, there was a little girl named Lily.",
     ["Once upon a time, there was a little girl named Lily.",
      "Once upon a time, there lived a girl called Lily."]),
    ("Once upon a time, there was a little boy named Tim.",
     ["Once upon a time, there was a little girl named Lily."]),
    ("He saw a big tree and wanted to climb it.",
     ["He saw a tall tree.", "He wanted to climb the big tree in the park.",
      "Tim saw a big tree and he wanted to climb it very much."]),
    ("They played together all day and became best friends.",
     ["They played all day and became friends.",
      "They played together all day long and were the best of friends."]),
    ("The bird flew away.", ["The little bird flew away into the sky.", "The bird flew."]),
    ("She was very sad and cried.", ["She cried because she was sad."]),
    ("Mom said, \"Be careful!\"", ["Her mom said, \"Yes, but be very careful.\""]),
    ("The sun was shining and the birds were singing.",
     ["It was a sunny day and the birds were singing in the trees."]),
    ("Ben found a shiny red ball under the bed.",
     ["Ben found a red ball.", "Under the bed, Ben found a shiny ball.",
      "Ben looked under the bed and found his shiny red ball."]),
    ("happy happy happy happy", ["happy dog", "the happy happy girl"]),
    ("The dog ran and ran and ran.", ["The dog ran fast.", "The dog ran and ran to the house."]),
    ("Kitty smiled and replied, \"Thank you, Spot.\"",
     ["Kitty smiled and said, \"Thank you, Spot. I polish it every day.\""]),
    ("Billy saw that Roxy was sad.", ["Billy saw that Roxy was sad and asked why."]),
    ("From that day on, they were best friends.",
     ["From that day on, Roxy and Billy were the best of friends."]),
    ("The end.", ["The end.", "And they lived happily ever after."]),
    ("red blue green yellow", ["one two three four five"]),
    ("Lily wanted to fly a kite in the sky but the wind was too strong and the kite broke.",
     ["Lily wanted to fly her kite, but the wind was too strong.",
      "The wind was strong and the kite broke."]),
    ("a b c d", ["a b c d e f g h", "a b"]),
    ("a b c d e", ["a b c", "a b c d e f g"]),
    ("x y z w", ["x y z w v", "x y z"]),
    ("", ["The cat sat."]),  # empty hypothesis: nltk's BLEU and GLEU give 0
    ("The cat sat on the mat.", ["", "The cat sat on a mat."]),  # an empty reference among others
    ("Tom and Sue went to the beach to play in the sand.",
     ["Tom and Sue went to the beach.", "Tom and Sue played in the sand at the beach."]),
]


def main():
    print(f"nltk {nltk.__version__}")
    smooth = SmoothingFunction().method1
    rows = []
    for hyp_text, ref_texts in CASES:
        for text in [hyp_text, *ref_texts]:
            # gfnlm::split_words splits on ASCII whitespace; keep the fixture where both agree.
            ascii_words = [w for w in re.split(r"[ \t\n\v\f\r]+", text) if w]
            assert text.isascii() and text.split() == ascii_words, text
        hyp = hyp_text.split()
        refs = [r.split() for r in ref_texts]
        rows.append({
            "hypothesis": hyp_text,
            "references": ref_texts,
            "bleu4": float(sentence_bleu(refs, hyp, weights=(0.25,) * 4,
                                         smoothing_function=smooth)),
            "gleu4": float(sentence_gleu(refs, hyp, min_len=1, max_len=4)),
        })
    out = pathlib.Path(__file__).resolve().parent / "bleu" / "fixture.json"
    out.parent.mkdir(exist_ok=True)
    doc = {
        "generator": "tests/reference/make_bleu_fixture.py",
        "nltk_version": nltk.__version__,
        "bleu": "sentence_bleu(refs, hyp, weights=(0.25,)*4, smoothing_function=method1)",
        "gleu": "sentence_gleu(refs, hyp, min_len=1, max_len=4)",
        "rows": rows,
    }
    # repr-exact floats (json writes shortest round-trip), one row a line for small diffs.
    with open(out, "w") as f:
        f.write("{\n")
        for key in ["generator", "nltk_version", "bleu", "gleu"]:
            f.write(f"  {json.dumps(key)}: {json.dumps(doc[key])},\n")
        f.write('  "rows": [\n')
        f.write(",\n".join("    " + json.dumps(r) for r in rows))
        f.write("\n  ]\n}\n")
    print(f"{len(rows)} rows -> {out}")


if __name__ == "__main__":
    main()
