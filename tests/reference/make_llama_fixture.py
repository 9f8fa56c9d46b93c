#!/usr/bin/python3
"""Writes llama_fixture.bin: reference logits, cross-entropy and every parameter gradient of small
Llama-family models computed by PyTorch, for tests/llama/test_llama_fixture.cpp (issue 4,
acceptance 1).

The model is written here from torch primitives (no Hugging Face), in float64 from weights that
are exactly representable in float32: RMSNorm, rotary embeddings on pairs (2i, 2i+1) of each head
(llama2.c's convention) with theta from the config, grouped-query causal attention (query head h
reads kv head h // (NH / NKV)), SwiGLU MLP w2(silu(w1 x) * w3 x), tied or untied head.
Parameters are stored in gfnlm's arena order (model/llama_layout.hpp), matrices [out, in].

Run: /usr/bin/python3 tests/reference/make_llama_fixture.py   (Debian python3-torch)

Format (little-endian): b"LLAMFIX1", int32 cases; per case: int32 V, maxT, L, NH, NKV, C, H, tied,
B, T; float64 norm_eps, rope_theta; int32 tokens[B*T]; int32 targets[B*T] (-1 = ignored);
int64 n; float32 params[n]; float64 logits[B*T*V]; float64 loss; float64 grads[n].
"""
import os
import struct

import torch
import torch.nn.functional as F

ORDER = ["embed", "attn_norm", "wq", "wk", "wv", "wo", "w1", "w2", "w3", "ffn_norm", "norm",
         "lm_head"]


def make_params(V, L, C, KV, H, tied, gen):
    def rnd(*shape, std=0.15, mean=0.0):
        t = mean + std * torch.randn(*shape, generator=gen, dtype=torch.float64)
        return t.float().double()  # exactly representable in float32

    p = {
        "embed": rnd(V, C, std=0.5), "attn_norm": rnd(L, C, std=0.1, mean=1.0),
        "wq": rnd(L, C, C), "wk": rnd(L, KV, C), "wv": rnd(L, KV, C), "wo": rnd(L, C, C),
        "w1": rnd(L, H, C), "w2": rnd(L, C, H), "w3": rnd(L, H, C),
        "ffn_norm": rnd(L, C, std=0.1, mean=1.0), "norm": rnd(C, std=0.1, mean=1.0),
    }
    if not tied:
        p["lm_head"] = rnd(V, C)
    for t in p.values():
        t.requires_grad_(True)
    return p


def rmsnorm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope(x, theta):
    # x: [B, T, heads, hs]; rotate pairs (2i, 2i+1) by t * theta^(-2i/hs).
    B, T, nh, hs = x.shape
    i = torch.arange(0, hs, 2, dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * theta ** (-i / hs)  # [T, hs/2]
    c, s = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).reshape(B, T, nh, hs)


def forward(p, idx, L, NH, NKV, eps, theta, tied):
    B, T = idx.shape
    C = p["embed"].shape[1]
    hs = C // NH
    x = p["embed"][idx]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        h = rmsnorm(x, p["attn_norm"][l], eps)
        q = rope((h @ p["wq"][l].T).view(B, T, NH, hs), theta).transpose(1, 2)
        k = rope((h @ p["wk"][l].T).view(B, T, NKV, hs), theta).transpose(1, 2)
        v = (h @ p["wv"][l].T).view(B, T, NKV, hs).transpose(1, 2)
        k = k.repeat_interleave(NH // NKV, dim=1)
        v = v.repeat_interleave(NH // NKV, dim=1)
        att = (q @ k.transpose(-2, -1)) / hs ** 0.5
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p["wo"][l].T
        h = rmsnorm(x, p["ffn_norm"][l], eps)
        x = x + (F.silu(h @ p["w1"][l].T) * (h @ p["w3"][l].T)) @ p["w2"][l].T
    x = rmsnorm(x, p["norm"], eps)
    return x @ (p["embed"] if tied else p["lm_head"]).T


def case(out, V, maxT, L, NH, NKV, C, H, tied, B, T, eps, theta, seed):
    gen = torch.Generator().manual_seed(seed)
    p = make_params(V, L, C, C // NH * NKV, H, tied, gen)
    idx = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    targets[0, 0] = -1
    targets[-1, T // 2] = -1
    logits = forward(p, idx, L, NH, NKV, eps, theta, tied)
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
    loss.backward()
    names = [k for k in ORDER if k in p]
    flat = torch.cat([p[k].detach().reshape(-1) for k in names])
    grads = torch.cat([p[k].grad.reshape(-1) for k in names])
    out.write(struct.pack("<10i", V, maxT, L, NH, NKV, C, H, int(tied), B, T))
    out.write(struct.pack("<2d", eps, theta))
    out.write(idx.to(torch.int32).numpy().tobytes())
    out.write(targets.to(torch.int32).numpy().tobytes())
    out.write(struct.pack("<q", flat.numel()))
    out.write(flat.float().numpy().tobytes())
    out.write(logits.detach().reshape(-1).numpy().tobytes())
    out.write(struct.pack("<d", loss.item()))
    out.write(grads.numpy().tobytes())


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llama_fixture.bin")
    with open(path, "wb") as out:
        out.write(b"LLAMFIX1")
        out.write(struct.pack("<i", 2))
        # GQA with 2 kv heads for 4 query heads, tied head, llama2.c constants.
        case(out, V=37, maxT=16, L=2, NH=4, NKV=2, C=32, H=48, tied=True, B=2, T=7,
             eps=1e-5, theta=10000.0, seed=1)
        # Multi-query attention (1 kv head), untied head, other eps and theta.
        case(out, V=29, maxT=12, L=3, NH=4, NKV=1, C=24, H=40, tied=False, B=3, T=9,
             eps=1e-6, theta=500.0, seed=2)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
