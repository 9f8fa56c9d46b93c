#!/usr/bin/python3
"""Writes a small GPT-2 in the Hugging Face layout, and the logits PyTorch computes from it, for
tests/io_models/test_gpt2_safetensors.cpp (issue 4, acceptance 2). Output in tests/reference/hf_gpt2/:

  f32/      config.json + model.safetensors: F32, names as GPT2LMHeadModel saves them
            ("transformer.h.0.attn.c_attn.weight", ...), the attention-mask buffers
            "transformer.h.N.attn.bias" (BOOL [1,1,n_pos,n_pos]) and ".attn.masked_bias" (F32 []),
            and "lm_head.weight" (tied: equal to wte)
  bf16/     the same weights rounded to BF16, names as GPT2Model saves them (no "transformer."
            prefix, no lm_head), mask buffers as U8 (older transformers versions)
  f16/      the same weights rounded to F16, GPT2LMHeadModel names without lm_head (tied)
  sharded/  an untied model (tie_word_embeddings false, its own lm_head.weight), F32, split over
            two shards + model.safetensors.index.json
  lora/     a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) for the f32
            model on attn.c_attn and mlp.c_proj, r = 4, lora_alpha = 8
  expected.json  the token batch and, per variant, the float32 logits [B, T, V] of PyTorch's
            forward over that variant's weights (F16/BF16 weights upcast to float32), plus the
            float32 logits of the unrounded weights ("f32") for the F16/BF16 error budget

transformers is not installed here, so the forward below is written in plain PyTorch following
HF's modeling_gpt2.py module by module: Conv1D (y = x @ W + b with W stored [in, out]), c_attn
split into q, k, v, heads split as view(B, T, H, hs).transpose(1, 2), scaled dot product with the
causal mask, merge heads, c_proj, gelu_new MLP, pre-LN blocks with eps = layer_norm_epsilon,
ln_f, and logits = h @ lm_head.weight^T. The safetensors container is written by hand (the
`safetensors` package is not installed); the format is an 8-byte header length, JSON header,
data buffer.
    /usr/bin/python3 tests/reference/make_hf_gpt2_fixture.py
"""
import json
import math
import os
import struct

import torch

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "hf_gpt2")

VOCAB, N_POS, N_EMBD, N_LAYER, N_HEAD = 67, 16, 32, 2, 4
EPS = 1e-5
B, T = 2, 12

DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.bool: "BOOL",
      torch.uint8: "U8"}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def make_weights(seed, tied):
    g = torch.Generator().manual_seed(seed)
    C = N_EMBD

    def rnd(*shape, std=0.2):
        return torch.randn(*shape, generator=g) * std

    w = {"wte.weight": rnd(VOCAB, C, std=0.3), "wpe.weight": rnd(N_POS, C, std=0.1)}
    for l in range(N_LAYER):
        p = f"h.{l}."
        w[p + "ln_1.weight"] = 1 + rnd(C, std=0.1)
        w[p + "ln_1.bias"] = rnd(C, std=0.1)
        w[p + "attn.c_attn.weight"] = rnd(C, 3 * C)  # Conv1D: [in, out]
        w[p + "attn.c_attn.bias"] = rnd(3 * C, std=0.1)
        w[p + "attn.c_proj.weight"] = rnd(C, C)
        w[p + "attn.c_proj.bias"] = rnd(C, std=0.1)
        w[p + "ln_2.weight"] = 1 + rnd(C, std=0.1)
        w[p + "ln_2.bias"] = rnd(C, std=0.1)
        w[p + "mlp.c_fc.weight"] = rnd(C, 4 * C)
        w[p + "mlp.c_fc.bias"] = rnd(4 * C, std=0.1)
        w[p + "mlp.c_proj.weight"] = rnd(4 * C, C, std=0.1)
        w[p + "mlp.c_proj.bias"] = rnd(C, std=0.1)
    w["ln_f.weight"] = 1 + rnd(C, std=0.1)
    w["ln_f.bias"] = rnd(C, std=0.1)
    if not tied:
        w["lm_head.weight"] = rnd(VOCAB, C, std=0.3)
    return w


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def conv1d(x, w, b):  # transformers.pytorch_utils.Conv1D
    return torch.addmm(b, x.view(-1, x.size(-1)), w).view(*x.shape[:-1], w.size(-1))


def forward(w, ids, lora=None):
    """HF GPT2LMHeadModel's forward; `lora` maps a module ("h.0.attn.c_attn") to (A, B, scale)
    and adds PEFT's LoRA update lora_B(lora_A(x)) * scale to that Conv1D's output."""
    w = {k: v.float() for k, v in w.items()}
    lora = lora or {}

    def proj(x, module):
        y = conv1d(x, w[module + ".weight"], w[module + ".bias"])
        if module in lora:
            a, b, scale = lora[module]
            y = y + (x @ a.t()) @ b.t() * scale
        return y

    Bn, Tn = ids.shape
    C, H = N_EMBD, N_HEAD
    hs = C // H
    h = w["wte.weight"][ids] + w["wpe.weight"][torch.arange(Tn)][None]
    causal = torch.tril(torch.ones(Tn, Tn, dtype=torch.bool))
    for l in range(N_LAYER):
        p = f"h.{l}."
        a = torch.nn.functional.layer_norm(h, (C,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], EPS)
        q, k, v = proj(a, p + "attn.c_attn").split(C, dim=2)
        q, k, v = (t.view(Bn, Tn, H, hs).permute(0, 2, 1, 3) for t in (q, k, v))
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hs)
        att = torch.where(causal, att, torch.tensor(torch.finfo(att.dtype).min))
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).permute(0, 2, 1, 3).contiguous().view(Bn, Tn, C)
        h = h + proj(y, p + "attn.c_proj")
        m = torch.nn.functional.layer_norm(h, (C,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], EPS)
        m = gelu_new(proj(m, p + "mlp.c_fc"))
        h = h + proj(m, p + "mlp.c_proj")
    h = torch.nn.functional.layer_norm(h, (C,), w["ln_f.weight"], w["ln_f.bias"], EPS)
    head = w.get("lm_head.weight", w["wte.weight"])
    return h @ head.t()


def config(tied):
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": VOCAB,
            "n_positions": N_POS, "n_ctx": N_POS, "n_embd": N_EMBD, "n_layer": N_LAYER,
            "n_head": N_HEAD, "n_inner": None, "activation_function": "gelu_new",
            "layer_norm_epsilon": EPS, "initializer_range": 0.02, "tie_word_embeddings": tied,
            "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float32"}


def buffers(prefix, mask_dtype):
    mask = torch.tril(torch.ones(N_POS, N_POS, dtype=torch.bool)).view(1, 1, N_POS, N_POS)
    out = {}
    for l in range(N_LAYER):
        out[f"{prefix}h.{l}.attn.bias"] = mask.to(mask_dtype)
        out[f"{prefix}h.{l}.attn.masked_bias"] = torch.tensor(-1e4)
    return out


def write_variant(name, tensors, tied, dtype_name):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    cfg = config(tied)
    cfg["torch_dtype"] = dtype_name
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"})


def main():
    ids = torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(7))
    expected = {"batch": B, "seq_len": T, "vocab_size": VOCAB, "tokens": ids.flatten().tolist(),
                "logits": {}}

    tied = make_weights(1, tied=True)
    with torch.no_grad():
        expected["logits"]["f32"] = forward(tied, ids).flatten().tolist()

        # f32: GPT2LMHeadModel names, buffers, lm_head tied copy.
        t = {"transformer." + k: v for k, v in tied.items()}
        t.update(buffers("transformer.", torch.bool))
        t["lm_head.weight"] = tied["wte.weight"].clone()
        write_variant("f32", t, True, "float32")

        # bf16: GPT2Model names (no prefix), U8 mask buffers.
        bf = {k: v.to(torch.bfloat16) for k, v in tied.items()}
        expected["logits"]["bf16"] = forward(bf, ids).flatten().tolist()
        t = dict(bf)
        t.update(buffers("", torch.uint8))
        write_variant("bf16", t, True, "bfloat16")

        # f16: GPT2LMHeadModel names, no lm_head (tied weights are saved once).
        hf = {k: v.to(torch.float16) for k, v in tied.items()}
        expected["logits"]["f16"] = forward(hf, ids).flatten().tolist()
        write_variant("f16", {"transformer." + k: v for k, v in hf.items()}, True, "float16")

        # sharded: untied head, two shards + index.
        untied = make_weights(2, tied=False)
        expected["logits"]["sharded"] = forward(untied, ids).flatten().tolist()
        d = os.path.join(out, "sharded")
        os.makedirs(d, exist_ok=True)
        names = [k for k in untied if k != "lm_head.weight"]
        full = {"transformer." + k: untied[k] for k in names}
        full["lm_head.weight"] = untied["lm_head.weight"]
        full.update(buffers("transformer.", torch.bool))
        keys = sorted(full)
        split = {keys[i]: ("model-00001-of-00002.safetensors" if i < len(keys) // 2 else
                           "model-00002-of-00002.safetensors") for i in range(len(keys))}
        for shard in sorted(set(split.values())):
            write_safetensors(os.path.join(d, shard),
                              {k: full[k] for k in keys if split[k] == shard}, {"format": "pt"})
        total = sum(v.numel() * v.element_size() for v in full.values())
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": split}, f, indent=2)
        cfg = config(False)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)

        # lora: a PEFT adapter for the f32 model on attn.c_attn and mlp.c_proj (r 4, alpha 8).
        # PEFT wraps each Conv1D with lora_A = nn.Linear(in, r), lora_B = nn.Linear(r, out) on
        # the activations (fan_in_fan_out only transposes the merged delta), so A is [r, in] and
        # B [out, r]; B is nonzero here so the update shows in the logits.
        R, ALPHA = 4, 8.0
        g = torch.Generator().manual_seed(3)
        lora, tensors = {}, {}
        for l in range(N_LAYER):
            for module, (fin, fout) in (("attn.c_attn", (N_EMBD, 3 * N_EMBD)),
                                        ("mlp.c_proj", (4 * N_EMBD, N_EMBD))):
                a = torch.randn(R, fin, generator=g) / math.sqrt(fin)
                b = torch.randn(fout, R, generator=g) * 0.2
                lora[f"h.{l}.{module}"] = (a, b, ALPHA / R)
                key = f"base_model.model.transformer.h.{l}.{module}"
                tensors[key + ".lora_A.weight"] = a
                tensors[key + ".lora_B.weight"] = b
        expected["logits"]["f32_lora"] = forward(tied, ids, lora).flatten().tolist()
        d = os.path.join(out, "lora")
        os.makedirs(d, exist_ok=True)
        write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors, {"format": "pt"})
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": R, "lora_alpha": ALPHA,
                       "lora_dropout": 0.0, "target_modules": ["c_attn", "mlp.c_proj"],
                       "fan_in_fan_out": True, "bias": "none", "use_rslora": False,
                       "base_model_name_or_path": "hf_gpt2/f32", "inference_mode": True}, f,
                      indent=2)

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
