#!/usr/bin/env python3
"""Reads a GGUF LoRA adapter written by `adapterctl export --format gguf` with the `gguf` package's
GGUFReader (llama.cpp's own reader, independent of adapterd's Swift writer) and compares it with the
PEFT export of the same cluster.

Checks: general.type == "adapter", adapter.type == "lora", adapter.lora.alpha (float32) and
general.architecture present; one lora_a/lora_b pair per PEFT module under llama.cpp's name
(blk.N.attn_q.weight.lora_a …), nothing else; each tensor's shape (GGML dims = PEFT shape reversed)
and values: lora_a == PEFT lora_A, lora_b == PEFT lora_B × (module alpha / file alpha), rows permuted
for Llama/Mistral q/k as llama.cpp's converter does (head counts from --base's config.json);
max |difference| within half an ulp of the file's type (F16 or finer; BF16: its own) at the
tensor's largest value.

    python3 tools/gguf/check.py --peft DIR --gguf FILE [--base BASE_DIR]
Exit 0 when everything matches, 1 otherwise.
"""
import argparse
import json
import math
import os
import re
import struct
import sys

import numpy as np
from gguf import GGUFReader

NAMES = {
    ("self_attn", "q_proj"): "attn_q", ("self_attn", "k_proj"): "attn_k", ("self_attn", "v_proj"): "attn_v",
    ("self_attn", "o_proj"): "attn_output", ("self_attn", "qkv_proj"): "attn_qkv",
    ("mlp", "gate_proj"): "ffn_gate", ("mlp", "up_proj"): "ffn_up", ("mlp", "gate_up_proj"): "ffn_up",
    ("mlp", "down_proj"): "ffn_down",
}


HALF_ULP = {"F32": 2.0 ** -24, "F16": 2.0 ** -11, "BF16": 2.0 ** -8}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        buf = np.frombuffer(data[start:end], dtype={"F32": "<f4", "F16": "<f2", "BF16": "<u2"}[info["dtype"]])
        if info["dtype"] == "BF16":
            buf = (buf.astype(np.uint32) << 16).view(np.float32)
        out[name] = buf.astype(np.float64).reshape(info["shape"])
    return out


def field_value(reader, key):
    field = reader.fields.get(key)
    if field is None:
        return None
    value = field.parts[field.data[0]]
    if field.types and field.types[0].name == "STRING":
        return bytes(value).decode("utf-8")
    return value.tolist()[0]


def tensor_values(t):
    data = np.asarray(t.data)
    if t.tensor_type.name == "BF16":
        data = (data.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    rows_major = [int(d) for d in reversed(list(t.shape))]
    return data.astype(np.float64).reshape(rows_major)


def permute(rows, heads):
    # llama.cpp's Llama conversion: per head, reshape (2, h, cols) → swap → (h, 2, cols).
    return rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peft", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--base", help="base model directory (config.json) for Llama/Mistral head counts")
    args = ap.parse_args()

    config = json.load(open(os.path.join(args.peft, "adapter_config.json")))
    tensors = read_safetensors(os.path.join(args.peft, "adapter_model.safetensors"))
    reader = GGUFReader(args.gguf)
    problems = []

    arch = field_value(reader, "general.architecture")
    gtype = field_value(reader, "general.type")
    atype = field_value(reader, "adapter.type")
    alpha = field_value(reader, "adapter.lora.alpha")
    alpha_type = reader.fields["adapter.lora.alpha"].types[0].name if "adapter.lora.alpha" in reader.fields else None
    print(f"general.architecture = {arch}; general.type = {gtype}; adapter.type = {atype}; "
          f"adapter.lora.alpha = {alpha} ({alpha_type})")
    if gtype != "adapter":
        problems.append(f"general.type is {gtype!r}, not 'adapter'")
    if atype != "lora":
        problems.append(f"adapter.type is {atype!r}, not 'lora'")
    if alpha is None or alpha_type != "FLOAT32":
        problems.append("adapter.lora.alpha missing or not float32")
    if not arch:
        problems.append("general.architecture missing")

    heads = kv_heads = None
    if args.base:
        base = json.load(open(os.path.join(args.base, "config.json")))
        heads = base["num_attention_heads"]
        kv_heads = base.get("num_key_value_heads", heads)

    gguf_tensors = {t.name: t for t in reader.tensors}
    expected_names = set()
    worst = 0.0
    count = 0
    for name in sorted(tensors):
        m = re.fullmatch(r"base_model\.model\.model\.layers\.(\d+)\.(\w+)\.(\w+)\.lora_A\.weight", name)
        if not m:
            if not name.endswith(".lora_B.weight"):
                problems.append(f"PEFT tensor {name} has no GGUF name")
            continue
        layer, parent, proj = m.groups()
        module = f"model.layers.{layer}.{parent}.{proj}"
        stem = f"blk.{layer}.{NAMES[(parent, proj)]}.weight"
        a = tensors[name]
        b = tensors[name.replace(".lora_A.", ".lora_B.")]
        r = a.shape[0]
        escaped = re.escape(module)
        r_m = config.get("rank_pattern", {}).get(escaped, config["r"])
        alpha_m = config.get("alpha_pattern", {}).get(escaped, config["lora_alpha"])
        scale = alpha_m / (math.sqrt(r_m) if config.get("use_rslora") else r_m)
        b = b * (scale * r / alpha)  # llama.cpp applies alpha / r
        if arch == "llama" and proj in ("q_proj", "k_proj"):
            if heads is None:
                problems.append("Llama q/k tensors need --base for the head counts")
                continue
            b = permute(b, heads if proj == "q_proj" else kv_heads)
        for suffix, want in ((".lora_a", a), (".lora_b", b)):
            expected_names.add(stem + suffix)
            t = gguf_tensors.get(stem + suffix)
            if t is None:
                problems.append(f"{stem + suffix} missing")
                continue
            if [int(d) for d in t.shape] != list(reversed(want.shape)):
                problems.append(f"{stem + suffix}: GGML dims {list(t.shape)}, expected {list(reversed(want.shape))}")
                continue
            got = tensor_values(t)
            diff = float(np.max(np.abs(got - want))) if want.size else 0.0
            # Half an ulp of the written type at the tensor's largest value (F32 and F16 files are within
            # F16 rounding; BF16 keeps 8 significand bits, so its own rounding is the bound).
            bound = float(np.max(np.abs(want))) * HALF_ULP[t.tensor_type.name] + 2.0 ** -25
            worst = max(worst, diff)
            count += 1
            if diff > bound:
                problems.append(f"{stem + suffix}: max |diff| {diff:.3g} > rounding bound {bound:.3g} ({t.tensor_type.name})")
    extra = sorted(set(gguf_tensors) - expected_names)
    if extra:
        problems.append(f"GGUF tensors not in the PEFT export: {extra}")
    types = sorted({t.tensor_type.name for t in reader.tensors})
    print(f"tensors compared: {count} of {len(gguf_tensors)} in the GGUF file ({', '.join(types)}); "
          f"max |diff| vs PEFT = {worst:.3g}")
    for p in problems:
        print("MISMATCH: " + p)
    print("OK" if not problems else f"FAILED ({len(problems)} problems)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
