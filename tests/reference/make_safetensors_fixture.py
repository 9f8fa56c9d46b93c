#!/usr/bin/python3
"""Writes the safetensors fixtures for tests/io/test_safetensors.cpp into
tests/reference/safetensors/:

  mixed.safetensors    one tensor per dtype (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL), an empty and
                       a scalar tensor, a __metadata__ block; tensors laid out in the order the
                       Hugging Face writer uses (by dtype size, then name), not in name order
  sharded/             the same tensors split over two shards + model.safetensors.index.json
  expected.json        each tensor's dtype, shape and values as PyTorch converts them to float32,
                       and float32 -> F16 / BF16 roundings computed by PyTorch, for our writer

PyTorch (1.13, /usr/bin/python3) does the dtype conversions, so the C++ reader is checked against
an independent implementation; the container is written here by hand following the format
(the `safetensors` package is not installed in this workplace).
    /usr/bin/python3 tests/reference/make_safetensors_fixture.py
"""
import json
import os
import struct

import torch

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "safetensors")
os.makedirs(os.path.join(out, "sharded"), exist_ok=True)

g = torch.Generator().manual_seed(4)
special = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 1e-7, 6.1e-5, 3.0e38, float("inf"),
                        float("-inf")])
tensors = {
    "a.f32": torch.randn(2, 3, generator=g),
    "b.f16": torch.cat([torch.randn(6, generator=g), special[:8]]).to(torch.float16),
    "c.bf16": torch.cat([torch.randn(4, generator=g), special]).reshape(2, 7).to(torch.bfloat16),
    "d.i64": torch.tensor([-3, 0, 1 << 40], dtype=torch.int64),
    "e.f64": torch.tensor([[1.0 / 3.0], [-1e300]], dtype=torch.float64),
    "f.i32": torch.tensor([7, -8, 2**31 - 1], dtype=torch.int32),
    "g.i16": torch.tensor([-32768, 5], dtype=torch.int16),
    "h.i8": torch.tensor([-128, 127, 0], dtype=torch.int8),
    "i.u8": torch.tensor([0, 255], dtype=torch.uint8),
    "j.bool": torch.tensor([True, False, True]),
    "model.layers.0.self_attn.q_proj.weight": torch.randn(4, 4, generator=g),
    "empty": torch.zeros(0, 3),
    "scalar": torch.tensor(2.5),
}
DTYPE = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
         torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
         torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def raw(t):
    # Bytes of a tensor in little-endian row-major order (bf16 via its int16 view).
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write(path, names, metadata=None):
    # Hugging Face order: larger dtype first, then name.
    names = sorted(names, key=lambda n: (-tensors[n].element_size(), n))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for n in names:
        b = raw(tensors[n])
        header[n] = {"dtype": DTYPE[tensors[n].dtype], "shape": list(tensors[n].shape),
                     "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


write(os.path.join(out, "mixed.safetensors"), list(tensors),
      {"format": "pt", "note": "gfnlm fixture"})
names = sorted(tensors)
shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
          "model-00002-of-00002.safetensors": names[len(names) // 2:]}
weight_map = {}
for file, part in shards.items():
    write(os.path.join(out, "sharded", file), part)
    weight_map.update({n: file for n in part})
total = sum(tensors[n].numel() * tensors[n].element_size() for n in names)
with open(os.path.join(out, "sharded", "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def floats(t):
    return [repr(v) for v in t.to(torch.float32).reshape(-1).tolist()]  # repr keeps inf exact


rounding_in = torch.cat([torch.randn(64, generator=g) * 10, special,
                         torch.tensor([65519.0, 65520.0, 2.0**-24, 2.0**-25, 1.5 * 2.0**-25,
                                       2.0**-14 * 0.999, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11,
                                       1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 3.3895314e38])])
expected = {
    "tensors": {n: {"dtype": DTYPE[t.dtype], "shape": list(t.shape), "values": floats(t)}
                for n, t in tensors.items()},
    "metadata": {"format": "pt", "note": "gfnlm fixture"},
    "rounding": {"input": floats(rounding_in), "f16": floats(rounding_in.to(torch.float16)),
                 "bf16": floats(rounding_in.to(torch.bfloat16))},
}
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
print("wrote", out)
