#!/usr/bin/env python3
"""Builds small Hugging Face tokenizers with the `tokenizers` library itself and records what it
encodes and decodes, for tests/text/test_hf_tokenizer.cpp (issue 19, item 5). No model hub is
reachable, so the tokenizers are trained here on TinyStories paragraphs
(../shared/data/tinystories/paragraphs.txt beside the checkout, its first 300 lines).

Output in tests/reference/hf_tokenizer/ (each tokenizer.json well under 100 KB):

  bytelevel/        GPT-2 style: ByteLevel pre-tokenizer (GPT-2's regex) and decoder, BPE over
                    the 256-byte alphabet, vocabulary 600, "<|endoftext|>" (special) and
                    "[NAME]" (single_word, not special) added; merges as [["a", "b"], ...]
                    (tokenizers >= 0.20).
  llama/            Llama-2 / TinyLlama style: normalizer Prepend("▁") + Replace(" ", "▁"), no
                    pre-tokenizer, BPE with byte_fallback and fuse_unk, ids 0-2 "<unk>" "<s>"
                    "</s>", 3-258 the byte tokens "<0x00>".."<0xFF>", decoder Replace / ByteFallback
                    / Fuse / Strip, post-processor "<s> $A"; merges in the older "a b" string form;
                    also "<mask>" (special, lstrip) and "Once upon" (normalized, not special);
                    tokenizer_config.json names bos/eos as AddedToken objects.
  llama_metaspace/  the same model as Llama checkpoints converted with legacy=False ship it:
                    Metaspace pre-tokenizer (prepend_scheme "first", split false), no
                    normalizer, decoder ByteFallback / Metaspace / Fuse; tokenizer_config.json
                    with plain-string bos/eos.
  llama3/           Llama-3 style: Split(Llama-3 regex, isolated) + ByteLevel(use_regex false),
                    ignore_merges, "<|begin_of_text|>" / "<|end_of_text|>" appended after the
                    model vocabulary, post-processor ByteLevel + "<|begin_of_text|> $A".
  expected.json     the test strings (36 written out, 30 random mixtures of the pieces they
                    exercise) and, per tokenizer: ids from encode(s,
                    add_special_tokens=False), decode(ids) (skip_special_tokens=True, the
                    default), pre_tokenize_str pieces, decode([id]) for every id, and decodes
                    of random id sequences (special tokens and invalid UTF-8 byte runs included);
                    "gpt2": the same for the real GPT-2 vocabulary.
  stages.json       further pre-tokenizers (their pre_tokenize_str of the strings) and decoders
                    (their decode of token lists) on their own, each with its JSON.

The real GPT-2 vocabulary (../shared/models/gpt2_vocab: encoder.json + vocab.bpe) becomes a
tokenizer.json of 1.5 MB, too big to commit: it is written to build/hf_tokenizer/gpt2/ (the
test uses it when present and skips with a message otherwise); its expected ids are committed.

    python3 -m venv build/venv-tok && build/venv-tok/bin/pip install tokenizers
    build/venv-tok/bin/python tests/reference/make_hf_tokenizer_fixture.py
"""
import json
import os
import random

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
out = os.path.join(here, "hf_tokenizer")
shared = os.path.join(root, "..", "shared")
gpt2_out = os.path.join(root, "build", "hf_tokenizer", "gpt2")

with open(os.path.join(shared, "data", "tinystories", "paragraphs.txt"), encoding="utf-8") as f:
    paragraphs = f.read().splitlines()
lines = paragraphs[:300]

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

STRINGS = [
    "Once upon a time, there was a little girl named Lily.",
    "Hello world",
    "",
    " leading space",
    "  two leading spaces",
    "trailing space ",
    "multiple   spaces   between  words",
    "line one\nline two\n\nline four\n",
    "\"Wow!\" said Tom. \"Can I play?\"",
    "She's happy; they're sad, we'll see, I'd go, you've won, I'm here, don't.",
    "IT'S LOUD, WE'LL SEE, I'VE 'Re 'LL 'D",
    "Numbers: 1, 22, 333, 4444, 1234567890.",
    "café naïve résumé Ñ",
    "日本語のテキスト",
    "emoji 😀🎉 and 👍🏽!",
    "tab\tseparated\tvalues",
    "CRLF line\r\nnext\r\n\r\n",
    "punctuation!!! ... ??? (parens) [brackets] {braces} --- ;:",
    "a",
    " ",
    "\n",
    "   ",
    "   \n\n  \t end",
    "mixed: abc123def 3.14 -42",
    "x\u00a0y and zero\u200bwidth",
    "hyphen-ated and under_scored words",
    "Hello</s>world<s> again <s>",
    "<|endoftext|>The end.<|endoftext|>",
    "<|begin_of_text|>Hi<|end_of_text|>",
    "Hi [NAME]! x[NAME]y [NAME]",
    "fill <mask> here   <mask>",
    "Once upon a time. once upon Once upon",
    "\u2581 already metaspace \u2581\u2581x",
    "Ǆ ǅ Ⅻ ½ ²",
    paragraphs[1000],
    "The cat sat on the mat.\n\nThe dog barked loudly!",
]

# Random mixtures of the pieces the rules above treat differently (seeded: the file is stable).
POOL = ["a", "b", "Z", "the", " cat", "é", "ß", "ǅ", " ", "  ", "\n", "\r\n", "\t", "'", "'s",
        "'LL",
        "1", "23", "4567", ".", ",", "!", "?", "\"", "-", "_", "日", "😀", "👍🏽", "\u00a0",
        "\u2581", "<s>", "</s>", "<|endoftext|>", "[NAME]", "<mask>", "Once upon", "\u0301", "٣",
        "Ⅻ"]
_rng = random.Random(5)
STRINGS += ["".join(_rng.choice(POOL) for _ in range(_rng.randrange(1, 14))) for _ in range(30)]


def byte_tokens():
    return ["<0x%02X>" % b for b in range(256)]


def model_json(tok):
    return json.loads(tok.to_str())["model"]


def build_bytelevel():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=600, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"])
    tok.train_from_iterator(lines, trainer)
    tok.add_tokens([AddedToken("[NAME]", single_word=True, normalized=False)])
    return tok, None


def train_sentencepiece_bpe():
    """A sentencepiece-style vocabulary: trained on whitespace-split "▁word" pieces, then laid
    out as Llama's (<unk> <s> </s>, the 256 byte tokens, then the pieces)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=360, show_progress=False, limit_alphabet=60,
                                  special_tokens=["<unk>", "<s>", "</s>"])
    tok.train_from_iterator(lines, trainer)
    m = model_json(tok)
    trained = sorted(m["vocab"].items(), key=lambda kv: kv[1])
    vocab = {}
    for t in ["<unk>", "<s>", "</s>"] + byte_tokens() + [t for t, _ in trained]:
        vocab.setdefault(t, len(vocab))
    merges = [tuple(p) for p in m["merges"]]
    return vocab, merges


def sentencepiece_tokenizer(vocab, merges):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>",
                               byte_fallback=True, fuse_unk=True))
    tok.add_special_tokens([AddedToken(t, normalized=False) for t in ["<unk>", "<s>", "</s>"]])
    return tok


def build_llama(vocab, merges):
    tok = sentencepiece_tokenizer(vocab, merges)
    tok.normalizer = normalizers.Sequence(
        [normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(content=" ", left=1)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("Once upon", normalized=True)])
    config = {
        "add_bos_token": True, "add_eos_token": False,
        "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": False,
                      "normalized": False, "rstrip": False, "single_word": False},
        "eos_token": {"__type": "AddedToken", "content": "</s>", "lstrip": False,
                      "normalized": False, "rstrip": False, "single_word": False},
        "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer"}
    return tok, config


def build_llama_metaspace(vocab, merges):
    tok = sentencepiece_tokenizer(vocab, merges)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.ByteFallback(),
                                     decoders.Metaspace(prepend_scheme="first"), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    config = {"bos_token": "<s>", "eos_token": "</s>", "legacy": False}
    return tok, config


def build_llama3():
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    tok.add_special_tokens(["<|begin_of_text|>", "<|end_of_text|>"])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    return tok, None


def build_gpt2():
    d = os.path.join(shared, "models", "gpt2_vocab")
    if not os.path.exists(os.path.join(d, "encoder.json")):
        return None
    tok = Tokenizer(models.BPE.from_file(os.path.join(d, "encoder.json"),
                                         os.path.join(d, "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


def legacy_merges(tok):
    """The same tokenizer with its merges written as "a b" strings (tokenizers < 0.20)."""
    j = json.loads(tok.to_str())
    j["model"]["merges"] = [" ".join(p) for p in j["model"]["merges"]]
    back = Tokenizer.from_str(json.dumps(j, ensure_ascii=False))
    return back, j


def byte_id(tok, b, byte_level):
    if byte_level:
        alphabet = {}
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 256))
        n = 0
        for x in range(256):
            if x in bs:
                alphabet[x] = chr(x)
            else:
                alphabet[x] = chr(256 + n)
                n += 1
        return tok.token_to_id(alphabet[b])
    return tok.token_to_id("<0x%02X>" % b)


def record(tok, byte_level, rng):
    n = tok.get_vocab_size(with_added_tokens=True)
    rec = {"vocab_size": n, "encode": [], "decode": [], "pre_tokens": [], "decode_one": [],
           "decode_random": []}
    for s in STRINGS:
        ids = tok.encode(s, add_special_tokens=False).ids
        rec["encode"].append(ids)
        rec["decode"].append(tok.decode(ids))
        if tok.pre_tokenizer is not None:
            rec["pre_tokens"].append([p for p, _ in tok.pre_tokenizer.pre_tokenize_str(s)])
    if n < 5000:
        rec["decode_one"] = [tok.decode([i]) for i in range(n)]
    # Byte runs that are not valid UTF-8: truncated, overlong, surrogate, stray continuation.
    runs = [[0xE6], [0xE6, 0x97], [0xF0, 0x9F, 0x98], [0xC0, 0x80], [0xED, 0xA0, 0x80],
            [0xFF, 0x41], [0x80, 0x80, 0xE2, 0x82, 0xAC], [0xF4, 0x90, 0x80, 0x80],
            [0xE2, 0x28, 0xA1], [0xF0, 0x9F, 0x98, 0x80, 0x9F]]
    word = tok.encode(" the", add_special_tokens=False).ids
    cases = []
    for r in runs:
        ids = [byte_id(tok, b, byte_level) for b in r]
        cases.append(ids)
        cases.append(word + ids + word)
    for _ in range(30):
        cases.append([rng.randrange(n) for _ in range(rng.randrange(1, 12))])
    for ids in cases:
        rec["decode_random"].append({"ids": ids, "text": tok.decode(ids),
                                     "with_special": tok.decode(ids, skip_special_tokens=False)})
    return rec


def record_stages(rng):
    """Pre-tokenizers and decoders the trained tokenizers do not use, on their own: each with its
    JSON (as tokenizer.json spells it) and its output."""
    pres = [pre_tokenizers.ByteLevel(add_prefix_space=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            pre_tokenizers.Metaspace(prepend_scheme="always", split=True),
            pre_tokenizers.Metaspace(prepend_scheme="never", split=True),
            pre_tokenizers.Metaspace(replacement="_", prepend_scheme="first", split=True),
            pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(GPT2_PATTERN), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False)]),
            pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
                pre_tokenizers.Metaspace(prepend_scheme="always", split=True)])]
    out = {"pre_tokenizers": [], "decoders": []}
    for p in pres:
        out["pre_tokenizers"].append({
            "json": json.loads(p.__getstate__()),
            "pieces": [[t for t, _ in p.pre_tokenize_str(s)] for s in STRINGS]})
    decs = [decoders.Strip(content=" ", left=2, right=1),
            decoders.Metaspace(prepend_scheme="never"),
            decoders.Metaspace(prepend_scheme="always", split=False),
            decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                               decoders.Fuse(), decoders.Strip(content=" ", left=1)]),
            decoders.Sequence([decoders.ByteFallback(),
                               decoders.Strip(content="x", left=1, right=2)]),
            decoders.ByteLevel()]
    pool = ["\u2581", "\u2581\u2581a", "a\u2581", "<0xE6>", "<0x97>", "<0xA5>", "<0x41>", "  x ",
            " ", "\u0120", "\u0120\u0120y", "é", "<0xzz>", "<0x0a>", "xx", "x", "\u00e6"]
    cases = [[rng.choice(pool) for _ in range(rng.randrange(1, 8))] for _ in range(25)]

    def decode(d, c):
        # None where tokenizers would panic: its Strip slicing past a token's ends.
        j = json.loads(d.__getstate__())
        for st in j.get("decoders", [j]):
            if st["type"] != "Strip":
                continue
            for t in c:
                begin = 0
                while begin < min(st["start"], len(t)) and t[begin] == st["content"]:
                    begin += 1
                end, k = len(t), 0
                while k < st["stop"]:
                    if k >= len(t):
                        return None
                    if t[len(t) - 1 - k] != st["content"]:
                        break
                    end, k = len(t) - 1 - k, k + 1
                if begin > end:
                    return None
        return d.decode(c)

    for d in decs:
        out["decoders"].append({"json": json.loads(d.__getstate__()), "tokens": cases,
                                "text": [decode(d, c) for c in cases]})
    return out


def save(name, tok, config, j=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "tokenizer.json")
    if j is None:
        tok.save(path, pretty=False)
    else:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False, separators=(",", ":"))
    # Whatever is on disk is what the C++ test reads: reload it and check it encodes the same.
    back = Tokenizer.from_file(path)
    for s in STRINGS:
        assert back.encode(s, add_special_tokens=False).ids == tok.encode(
            s, add_special_tokens=False).ids, (name, s)
    cfg = os.path.join(d, "tokenizer_config.json")
    if config is not None:
        with open(cfg, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
    elif os.path.exists(cfg):
        os.remove(cfg)
    print(f"{path}: {os.path.getsize(path)} bytes, vocabulary {tok.get_vocab_size()}")
    return back


def main():
    rng = random.Random(19)
    expected = {"tokenizers_version": tokenizers.__version__, "strings": STRINGS}
    vocab, merges = train_sentencepiece_bpe()
    for name, (tok, config), byte_level in [
            ("bytelevel", build_bytelevel(), True),
            ("llama", build_llama(vocab, merges), False),
            ("llama_metaspace", build_llama_metaspace(vocab, merges), False),
            ("llama3", build_llama3(), True)]:
        j = None
        if name == "llama":
            tok, j = legacy_merges(tok)
        tok = save(name, tok, config, j)
        expected[name] = record(tok, byte_level, rng)
    with open(os.path.join(out, "stages.json"), "w", encoding="utf-8") as f:
        json.dump(record_stages(rng), f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    gpt2 = build_gpt2()
    if gpt2 is not None:
        os.makedirs(gpt2_out, exist_ok=True)
        gpt2.save(os.path.join(gpt2_out, "tokenizer.json"), pretty=False)
        print(f"{gpt2_out}/tokenizer.json (not committed)")
        expected["gpt2"] = record(gpt2, True, rng)
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    for f in ["expected.json", "stages.json"]:
        print(f"{out}/{f}: {os.path.getsize(os.path.join(out, f))} bytes")


if __name__ == "__main__":
    main()
