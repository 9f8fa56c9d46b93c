#!/usr/bin/python3
"""Writes a small Llama in the Hugging Face layout, and the logits PyTorch computes from it, for
tests/io_models/test_llama_safetensors.cpp (issue 4, acceptance 2). Output in
tests/reference/hf_llama/:

  f32/      config.json + model.safetensors: F32, untied head (lm_head.weight), grouped-query
            attention (4 heads, 2 key/value heads), rope_theta 1000, rms_norm_eps 1e-6, and the
            "model.layers.N.self_attn.rotary_emb.inv_freq" buffers older transformers saved
  sharded/  a tied model (tie_word_embeddings true, no lm_head) in BF16 over two shards +
            model.safetensors.index.json
  lora/     a PEFT LoRA adapter for the f32 model on q_proj, k_proj, v_proj and down_proj
            (r = 4, lora_alpha = 8)
  expected.json  the token batch and per variant the float32 logits [B, T, V] of PyTorch's
            forward over that variant's weights (BF16 upcast to float32)

transformers is not installed here, so the forward is written in plain PyTorch following HF's
modeling_llama.py: LlamaRMSNorm (x * rsqrt(mean(x^2) + eps) * w), q/k/v/o projections with
nn.Linear weights [out, in], rotary embeddings in HF's rotate_half convention (the pair
(i, i + hs/2) of each head rotated by pos * theta^(-2i/hs); HF's checkpoints permute q_proj and
k_proj rows for it, which the loader undoes for the interleaved kernels), repeat_kv for GQA,
causal softmax attention, SwiGLU MLP down(silu(gate(x)) * up(x)), final norm, lm_head.
    /usr/bin/python3 tests/reference/make_hf_llama_fixture.py
"""
import json
import math
import os
import struct

import torch

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "hf_llama")

VOCAB, N_POS, C, N_LAYER, NH, NKV, FF = 67, 16, 32, 2, 4, 2, 88
EPS, THETA = 1e-6, 1000.0
HS = C // NH
B, T = 2, 12
DT = {torch.float32: "F32", torch.bfloat16: "BF16"}


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
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

    def rnd(*shape, std):
        return torch.randn(*shape, generator=g) * std

    w = {"model.embed_tokens.weight": rnd(VOCAB, C, std=0.5)}
    for l in range(N_LAYER):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + rnd(C, std=0.1)
        w[p + "self_attn.q_proj.weight"] = rnd(NH * HS, C, std=0.3)
        w[p + "self_attn.k_proj.weight"] = rnd(NKV * HS, C, std=0.3)
        w[p + "self_attn.v_proj.weight"] = rnd(NKV * HS, C, std=0.2)
        w[p + "self_attn.o_proj.weight"] = rnd(C, NH * HS, std=0.2)
        w[p + "post_attention_layernorm.weight"] = 1 + rnd(C, std=0.1)
        w[p + "mlp.gate_proj.weight"] = rnd(FF, C, std=0.2)
        w[p + "mlp.up_proj.weight"] = rnd(FF, C, std=0.2)
        w[p + "mlp.down_proj.weight"] = rnd(C, FF, std=0.1)
    w["model.norm.weight"] = 1 + rnd(C, std=0.1)
    if not tied:
        w["lm_head.weight"] = rnd(VOCAB, C, std=0.5)
    return w


def rms_norm(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def forward(w, ids, lora=None):
    """`lora` maps a module ("model.layers.0.self_attn.q_proj") to (A, B, scale): PEFT's
    lora_B(lora_A(x)) * scale is added to that nn.Linear's output."""
    w = {k: v.float() for k, v in w.items()}
    lora = lora or {}

    def lin(x, module):
        y = x @ w[module + ".weight"].t()
        if module in lora:
            a, b, scale = lora[module]
            y = y + (x @ a.t()) @ b.t() * scale
        return y

    Bn, Tn = ids.shape
    inv_freq = 1.0 / (THETA ** (torch.arange(0, HS, 2).float() / HS))
    freqs = torch.outer(torch.arange(Tn).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    causal = torch.tril(torch.ones(Tn, Tn, dtype=torch.bool))
    h = w["model.embed_tokens.weight"][ids]
    for l in range(N_LAYER):
        p = f"model.layers.{l}."
        x = rms_norm(h, w[p + "input_layernorm.weight"])
        q = lin(x, p + "self_attn.q_proj").view(Bn, Tn, NH, HS).transpose(1, 2)
        k = lin(x, p + "self_attn.k_proj").view(Bn, Tn, NKV, HS).transpose(1, 2)
        v = lin(x, p + "self_attn.v_proj").view(Bn, Tn, NKV, HS).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(NH // NKV, dim=1)  # repeat_kv
        v = v.repeat_interleave(NH // NKV, dim=1)
        att = (q @ k.transpose(2, 3)) / math.sqrt(HS)
        att = torch.softmax(torch.where(causal, att, torch.tensor(torch.finfo(att.dtype).min)), -1)
        y = (att @ v).transpose(1, 2).reshape(Bn, Tn, C)
        h = h + lin(y, p + "self_attn.o_proj")
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"])
        m = torch.nn.functional.silu(lin(x, p + "mlp.gate_proj")) * lin(x, p + "mlp.up_proj")
        h = h + lin(m, p + "mlp.down_proj")
    h = rms_norm(h, w["model.norm.weight"])
    return h @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).t()


def config(tied, dtype):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB,
            "hidden_size": C, "intermediate_size": FF, "num_hidden_layers": N_LAYER,
            "num_attention_heads": NH, "num_key_value_heads": NKV,
            "max_position_embeddings": N_POS, "rms_norm_eps": EPS, "rope_theta": THETA,
            "rope_scaling": None, "hidden_act": "silu", "tie_word_embeddings": tied,
            "torch_dtype": dtype, "bos_token_id": 1, "eos_token_id": 2}


def main():
    ids = torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(5))
    expected = {"batch": B, "seq_len": T, "vocab_size": VOCAB, "tokens": ids.flatten().tolist(),
                "logits": {}}
    with torch.no_grad():
        untied = make_weights(1, tied=False)
        expected["logits"]["f32"] = forward(untied, ids).flatten().tolist()
        d = os.path.join(out, "f32")
        os.makedirs(d, exist_ok=True)
        t = dict(untied)
        for l in range(N_LAYER):
            t[f"model.layers.{l}.self_attn.rotary_emb.inv_freq"] = \
                1.0 / (THETA ** (torch.arange(0, HS, 2).float() / HS))
        write_safetensors(os.path.join(d, "model.safetensors"), t)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config(False, "float32"), f, indent=2)

        # lora: a PEFT adapter for the f32 model on q/k/v and down_proj (r 4, alpha 8); A is
        # [r, in], B [out, r] (nn.Linear), B nonzero so the update shows in the logits. q/k's B
        # rows are in HF's rotate_half order like the base weights.
        R, ALPHA = 4, 8.0
        g = torch.Generator().manual_seed(3)
        lora, tensors = {}, {}
        for l in range(N_LAYER):
            for module, (fin, fout) in (("self_attn.q_proj", (C, NH * HS)),
                                        ("self_attn.k_proj", (C, NKV * HS)),
                                        ("self_attn.v_proj", (C, NKV * HS)),
                                        ("mlp.down_proj", (FF, C))):
                a = torch.randn(R, fin, generator=g) / math.sqrt(fin)
                b = torch.randn(fout, R, generator=g) * 0.2
                key = f"model.layers.{l}.{module}"
                lora[key] = (a, b, ALPHA / R)
                tensors[f"base_model.model.{key}.lora_A.weight"] = a
                tensors[f"base_model.model.{key}.lora_B.weight"] = b
        expected["logits"]["f32_lora"] = forward(untied, ids, lora).flatten().tolist()
        d = os.path.join(out, "lora")
        os.makedirs(d, exist_ok=True)
        write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors)
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": R, "lora_alpha": ALPHA,
                       "lora_dropout": 0.0,
                       "target_modules": ["q_proj", "k_proj", "v_proj", "down_proj"],
                       "fan_in_fan_out": False, "bias": "none", "use_rslora": False,
                       "base_model_name_or_path": "hf_llama/f32", "inference_mode": True}, f,
                      indent=2)

        tied = {k: v.to(torch.bfloat16) for k, v in make_weights(2, tied=True).items()}
        expected["logits"]["sharded"] = forward(tied, ids).flatten().tolist()
        d = os.path.join(out, "sharded")
        os.makedirs(d, exist_ok=True)
        keys = sorted(tied)
        split = {k: "model-0000{}-of-00002.safetensors".format(1 if i < len(keys) // 2 else 2)
                 for i, k in enumerate(keys)}
        for shard in sorted(set(split.values())):
            write_safetensors(os.path.join(d, shard), {k: tied[k] for k in keys if split[k] == shard})
        total = sum(v.numel() * v.element_size() for v in tied.values())
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": split}, f, indent=2)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config(True, "bfloat16"), f, indent=2)

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
