#!/usr/bin/python3
"""Writes small seed inputs for the fuzz targets into OUT/<target>/ (run before fuzzing):
    /usr/bin/python3 tests/fuzz/make_seeds.py build/fuzz/corpus [BUILD_DIR]
Seeds are valid files of each format, so the fuzzer starts from inputs that reach deep code.
Sampler checkpoints, PEFT adapters and cached base models are binary formats the library
writes: the built targets in BUILD_DIR (default: OUT's parent) write those seeds themselves
(GFNLM_FUZZ_WRITE_SEEDS), so they always follow the current format."""
import json
import os
import struct
import subprocess
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "corpus"
build = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(out))
root = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# llama2.c tokenizer: <unk> <s> </s>, byte tokens, a few merges.
def llama2c_tok(pieces):
    b = struct.pack("<i", max(len(p.encode()) for p, _ in pieces))
    for p, s in pieces:
        e = p.encode()
        b += struct.pack("<fi", s, len(e)) + e
    return b


base = [("<unk>", 0), ("\n<s>\n", 0), ("\n</s>\n", 0)]
put("fuzz_llama2c_tokenizer", "small", llama2c_tok(base + [(f"<0x{b:02X}>", 0) for b in range(0, 256, 17)]
                                                 + [(" ", -9), ("a", -9), ("b", -9), ("ab", -1), (" a", -2)]))
put("fuzz_llama2c_tokenizer", "tiny", llama2c_tok(base + [(" ", 0), ("O", 0), ("n", 0), ("On", 1)]))
real = os.path.join(root, "../../../shared/models/aidreams260K/tok512.bin")
if os.path.exists(real):
    put("fuzz_llama2c_tokenizer", "tok512", open(real, "rb").read())


# GPT-2 byte alphabet (bytes_to_unicode).
def byte_alphabet():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


alpha = byte_alphabet()
vocab = {alpha[b]: b for b in range(256)}
pairs = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "h"), ("Ġh", "e"),
         ("Ġhe", "ll"), ("Ġhell", "o")]
for a, b in pairs:
    vocab.setdefault(a + b, len(vocab))
vocab["<|endoftext|>"] = len(vocab)
merges = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in pairs)
put("fuzz_gpt2_vocab", "small", json.dumps(vocab, ensure_ascii=False) + "\0" + merges)
put("fuzz_gpt2_vocab", "tiny", '{"a": 0}\0a a\n')

fixture = os.path.join(root, "../reference/gpt2_bpe/expected.json")
for i, item in enumerate(json.load(open(fixture))):
    if item["text"]:
        put("fuzz_gpt2_encode", f"text{i:03d}", item["text"])

# safetensors: the committed fixtures.
st = os.path.join(root, "../reference/safetensors")
put("fuzz_safetensors", "mixed", open(os.path.join(st, "mixed.safetensors"), "rb").read())
for f in sorted(os.listdir(os.path.join(st, "sharded"))):
    if f.endswith(".safetensors"):
        put("fuzz_safetensors", f, open(os.path.join(st, "sharded", f), "rb").read())
put("fuzz_safetensors", "empty", struct.pack("<Q", 2) + b"{}")


# llama2.c checkpoints: tiny models in both layouts, tied and untied.
def llama2c_model(version, shared, dim=4, hidden=6, layers=1, heads=2, kv=1, vocab=5, seq=3):
    head = dim // heads
    kvd = head * kv
    b = b""
    if version == 1:
        b += struct.pack("<Ii", 0x616B3432, 1)
    b += struct.pack("<7i", dim, hidden, layers, heads, kv,
                     vocab if (version == 1 or shared) else -vocab, seq)
    if version == 1:
        b += struct.pack("<B", int(shared))
        b += b"\0" * (256 - len(b))
    n = (vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * kvd * dim + 3 * hidden * dim) + dim)
    if version == 0:
        n += seq * head
    if not shared:
        n += vocab * dim
    return b + struct.pack(f"<{n}f", *[0.01 * i for i in range(n)])


for v in (0, 1):
    for shared in (True, False):
        put("fuzz_llama2c_checkpoint", f"v{v}_{'tied' if shared else 'untied'}", llama2c_model(v, shared))

# Hugging Face config.json.
put("fuzz_hf_config", "gpt2", json.dumps({"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768,
                                          "n_layer": 12, "n_head": 12, "n_positions": 1024,
                                          "layer_norm_epsilon": 1e-5}))
put("fuzz_hf_config", "llama", json.dumps({"model_type": "llama", "hidden_size": 64,
                                           "intermediate_size": 172, "num_hidden_layers": 4,
                                           "num_attention_heads": 4, "num_key_value_heads": 2,
                                           "vocab_size": 512, "rope_theta": 10000.0}))


# Seeds written by the built targets themselves (real checkpoints, adapters and base models).
for target in ("fuzz_sampler_checkpoint", "fuzz_peft_adapter", "fuzz_task_data"):
    exe = os.path.join(build, target)
    if not os.path.exists(exe):
        print(f"make_seeds: {exe} not built; its binary seeds are skipped", file=sys.stderr)
        continue
    dest = os.path.join(out, target)
    os.makedirs(dest, exist_ok=True)
    subprocess.run([exe], env=dict(os.environ, GFNLM_FUZZ_WRITE_SEEDS=dest), check=True,
                   stdout=subprocess.DEVNULL)

# The arithmetic data-set JSON (byte 0 = 0 picks that reader in fuzz_task_data): the paper's
# layout, with and without rationales, and one of the real files when present.
items = [
    {"str_query": "Question: 6 - 0 - 4 - 8 = ? Answer:", "num_sol": -6,
     "str_rationale": "6 - 0 =, 6 - 4 =, 2 - 8 =", "str_sol": ". The answer is -6."},
    {"str_query": "Question: 5 + 9 - 3 + 8 = ? Answer:", "num_sol": 19},
    {"str_query": "Question: 9 + 4 = ? Answer:", "num_sol": 13, "str_rationale": "9 + 4 ="},
]
put("fuzz_task_data", "json_items", b"\0" + json.dumps(items, indent=4).encode())
put("fuzz_task_data", "json_empty", b"\0[]")
# SUBJ JSONL (byte 0 = 3): two good lines, and the paper's 10-label file when present.
put("fuzz_task_data", "subj_lines", b"\3" + b'{"text": "a fine film .", "label": 1, '
    b'"label_text": "subjective"}\n\n{"text": "he goes home .", "label": 0}\n')
subj = os.path.join(root, "../../../shared/data/subj/train.10.jsonl")
if os.path.exists(subj):
    put("fuzz_task_data", "subj_paper", b"\3" + open(subj, "rb").read())
paper = os.path.join(root, "../../../shared/data/arithmetic/train_worked_50.json")
if os.path.exists(paper):
    put("fuzz_task_data", "json_paper", b"\0" + open(paper, "rb").read())
