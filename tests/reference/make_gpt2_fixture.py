#!/usr/bin/python3
"""Writes gpt2_fixture.bin: reference logits, cross-entropy and every parameter gradient of a
small GPT-2 computed by PyTorch, for tests/model/test_gpt2_fixture.cpp (issue 2, acceptance 2).

The model is written here from torch primitives (no Hugging Face), in float64 from weights that
are exactly representable in float32, so the fixture is an independent oracle for our float32
engine. Parameters are stored in gfnlm's arena order (model/gpt2_layout.hpp), weights row-major
[out, in] as nn.Linear.

Run: /usr/bin/python3 tests/reference/make_gpt2_fixture.py   (Debian python3-torch)

Format (little-endian): b"GPT2FIX1", int32 cases; per case: int32 V, maxT, L, NH, C, tied, B, T;
int32 tokens[B*T]; int32 targets[B*T] (-1 = ignored); int64 n; float32 params[n];
float64 logits[B*T*V]; float64 loss; float64 grads[n].
"""
import math
import os
import struct

import torch
import torch.nn.functional as F


def make_params(V, maxT, L, C, tied, gen):
    def rnd(*shape, std=0.1, mean=0.0):
        t = mean + std * torch.randn(*shape, generator=gen, dtype=torch.float64)
        return t.float().double()  # exactly representable in float32

    p = {
        "wte": rnd(V, C), "wpe": rnd(maxT, C),
        "ln1w": rnd(L, C, mean=1.0), "ln1b": rnd(L, C),
        "qkvw": rnd(L, 3 * C, C), "qkvb": rnd(L, 3 * C),
        "attprojw": rnd(L, C, C), "attprojb": rnd(L, C),
        "ln2w": rnd(L, C, mean=1.0), "ln2b": rnd(L, C),
        "fcw": rnd(L, 4 * C, C), "fcb": rnd(L, 4 * C),
        "fcprojw": rnd(L, C, 4 * C), "fcprojb": rnd(L, C),
        "lnfw": rnd(C, mean=1.0), "lnfb": rnd(C),
    }
    if not tied:
        p["lm_head"] = rnd(V, C)
    for t in p.values():
        t.requires_grad_(True)
    return p


def forward(p, idx, L, NH, tied):
    B, T = idx.shape
    C = p["wte"].shape[1]
    hs = C // NH
    x = p["wte"][idx] + p["wpe"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        h = F.layer_norm(x, (C,), p["ln1w"][l], p["ln1b"][l], 1e-5)
        qkv = h @ p["qkvw"][l].T + p["qkvb"][l]
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (t.view(B, T, NH, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p["attprojw"][l].T + p["attprojb"][l]
        h = F.layer_norm(x, (C,), p["ln2w"][l], p["ln2b"][l], 1e-5)
        f = F.gelu(h @ p["fcw"][l].T + p["fcb"][l], approximate="tanh")
        x = x + f @ p["fcprojw"][l].T + p["fcprojb"][l]
    x = F.layer_norm(x, (C,), p["lnfw"], p["lnfb"], 1e-5)
    head = p["wte"] if tied else p["lm_head"]
    return x @ head.T


ORDER = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b",
         "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb", "lm_head"]


def case(out, V, maxT, L, NH, C, tied, B, T, seed):
    gen = torch.Generator().manual_seed(seed)
    p = make_params(V, maxT, L, C, tied, gen)
    idx = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    targets[0, 0] = -1  # ignored positions must not count
    targets[-1, T // 2] = -1
    logits = forward(p, idx, L, NH, tied)
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
    loss.backward()
    names = [n for n in ORDER if n in p]
    params = torch.cat([p[n].detach().reshape(-1) for n in names])
    grads = torch.cat([p[n].grad.reshape(-1) for n in names])
    out.write(struct.pack("<8i", V, maxT, L, NH, C, int(tied), B, T))
    out.write(idx.to(torch.int32).numpy().tobytes())
    out.write(targets.to(torch.int32).numpy().tobytes())
    out.write(struct.pack("<q", params.numel()))
    out.write(params.float().numpy().tobytes())
    out.write(logits.detach().reshape(-1).numpy().tobytes())
    out.write(struct.pack("<d", loss.item()))
    out.write(grads.numpy().tobytes())
    print(f"case V={V} T={T} L={L} NH={NH} C={C} tied={tied}: {params.numel()} params, "
          f"loss {loss.item():.6f}")


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt2_fixture.bin")
    with open(path, "wb") as out:
        out.write(b"GPT2FIX1")
        out.write(struct.pack("<i", 2))
        case(out, V=67, maxT=16, L=2, NH=4, C=32, tied=True, B=3, T=12, seed=1234)
        case(out, V=53, maxT=12, L=3, NH=2, C=16, tied=False, B=2, T=12, seed=99)
    print(f"wrote {path} ({os.path.getsize(path)} bytes) with torch {torch.__version__}")


if __name__ == "__main__":
    main()
