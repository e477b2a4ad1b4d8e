#!/usr/bin/env python3
"""Regenerates tools/fuzz/seeds/<target>/ from real files of the repository (standard library only).

Seeds: safetensors and adapter_config.json of the PEFT test fixtures (written by peft 0.21),
config + separator + weights for the loader, examples JSONL files, and protocol frames (4-byte
big-endian length + JSON-RPC request) for every method, including an install carrying a real adapter.

usage: tools/fuzz/make_seeds.py [EXAMPLES.jsonl ...]   (extra real examples files to copy)
"""
import base64
import json
import pathlib
import shutil
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "tools" / "fuzz" / "seeds"
PEFT = ROOT / "Tests" / "AdapterCoreTests" / "Fixtures" / "peft"
# Small, different fixtures: BF16/F16/F32, fused QKV, rank_pattern, BERT naming.
FIXTURES = ["llama_gqa_bf16", "llama_gqa_f16", "gpt2_fused", "bert_f32", "llama_rslora_rankpattern"]
LOADER_SEPARATOR = b"@@SAFETENSORS@@"  # Sources/FuzzPEFTLoader


def put(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def frame(obj):
    payload = json.dumps(obj, separators=(",", ":")).encode()
    return raw_frame(payload)


def raw_frame(payload):
    return struct.pack(">I", len(payload)) + payload


def main():
    if SEEDS.exists():
        for target in ["FuzzSafeTensors", "FuzzPEFTConfig", "FuzzPEFTLoader", "FuzzProtocol"]:
            shutil.rmtree(SEEDS / target, ignore_errors=True)
    for fixture in FIXTURES:
        config = (PEFT / fixture / "adapter_config.json").read_bytes()
        weights = (PEFT / fixture / "adapter_model.safetensors").read_bytes()
        put("FuzzSafeTensors", fixture + ".safetensors", weights)
        put("FuzzPEFTConfig", fixture + ".json", config)
        put("FuzzPEFTLoader", fixture + ".bin", config + LOADER_SEPARATOR + weights)

    # A minimal valid file, so mutations start from something small as well.
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
    put("FuzzSafeTensors", "tiny_f16.safetensors",
        struct.pack("<Q", len(header)) + header + struct.pack("<4e", 1.0, -2.0, 0.5, 0.0))

    for path in sys.argv[1:]:
        data = pathlib.Path(path).read_bytes()
        put("FuzzExamples", pathlib.Path(path).parent.name + ".jsonl", data)

    # One seed per accepted examples shape (docs/PROTOCOL.md, install), so mutations reach each.
    shapes = {
        "shape_text_int_labels": [{"labels": ["neg", "pos"]}, {"text": "dull plot", "label": 0}, {"text": "loved it", "label": 1}],
        "shape_input_output": [{"input": "fix: teh cat", "output": "the cat"}],
        "shape_alpaca": [{"instruction": "Translate to French", "input": "good morning", "output": "bonjour"},
                         {"instruction": "Name a colour", "input": "", "output": "red"}],
        "shape_prompt_completion": [{"prompt": "2+2=", "completion": "4"}],
        "shape_chat": [{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                                     {"role": "assistant", "content": "hello"}]}],
    }
    for name, lines in shapes.items():
        put("FuzzExamples", name + ".jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())

    config = (PEFT / "llama_gqa_bf16" / "adapter_config.json").read_text()
    weights = (PEFT / "llama_gqa_bf16" / "adapter_model.safetensors").read_bytes()
    examples = '{"text": "turn on the kitchen lights", "label": "lights_on"}\n{"text": "dim the bedroom", "label": "dim"}\n'
    requests = {
        "status": {"jsonrpc": "2.0", "id": 1, "method": "status"},
        "list": {"jsonrpc": "2.0", "id": "a", "method": "list", "params": {}},
        "show": {"jsonrpc": "2.0", "id": 3, "method": "show", "params": {"task": "intent_banking"}},
        "remove": {"jsonrpc": "2.0", "id": 4, "method": "remove", "params": {"task": "intent_banking"}},
        "route": {"jsonrpc": "2.0", "id": 5, "method": "route", "params": {"task": "sentiment"}},
        "route_text": {"jsonrpc": "2.0", "id": 6, "method": "route", "params": {"text": "hello"}},
        "quarantine": {"jsonrpc": "2.0", "id": 7, "method": "quarantine.list"},
        "config": {"jsonrpc": "2.0", "id": 8, "method": "config.get", "params": {}},
        "budget": {"jsonrpc": "2.0", "id": 9, "method": "budget.set", "params": {"bytes": 1048576}},
        "budget_null": {"jsonrpc": "2.0", "id": 10, "method": "budget.set", "params": {"bytes": None}},
        "notification": {"jsonrpc": "2.0", "method": "status"},
        "install": {"jsonrpc": "2.0", "id": 11, "method": "install", "params": {
            "task": "smart_home", "config": config,
            "safetensors": base64.b64encode(weights).decode(), "examples": examples}},
        "response": {"jsonrpc": "2.0", "id": 12, "error": {"code": -32001, "message": "refused",
                                                          "data": {"task": "x", "quarantineId": 3}}},
    }
    for name, obj in requests.items():
        put("FuzzProtocol", name + ".frame", frame(obj))
    # Ids and numbers beyond Int64 and the request scanner's 18 digits (a 19th digit used to overflow
    # it), other number forms, escapes and bytes that are not UTF-8: written as text, as JSON
    # libraries would normalise them.
    texts = {
        "id_18_digits": b'{"jsonrpc":"2.0","id":123456789012345678,"method":"route","params":{"task":"a"}}',
        "id_19_digits": b'{"jsonrpc":"2.0","id":9223372036854775807,"method":"status"}',
        "id_19_digits_over": b'{"jsonrpc":"2.0","id":9999999999999999999,"method":"route","params":{"task":"a"}}',
        "id_25_digits": b'{"jsonrpc":"2.0","id":1234567890123456789012345,"method":"status"}',
        "id_400_digits": b'{"jsonrpc":"2.0","id":' + b"9" * 400 + b',"method":"status"}',
        "id_negative_long": b'{"jsonrpc":"2.0","id":-92233720368547758089,"method":"list"}',
        "id_forms": b'{"jsonrpc":"2.0","id":-0,"method":"status","params":{}} ',
        "id_exponent": b'{"jsonrpc":"2.0","id":1e2,"method":"status"}',
        "bytes_out_of_range": b'{"jsonrpc":"2.0","id":1,"method":"budget.set","params":{"bytes":1e30}}',
        "recluster_long_budget": b'{"jsonrpc":"2.0","id":2,"method":"recluster","params":{"budget":99999999999999999999,"dryRun":true}}',
        "route_text_top": b'{"jsonrpc":"2.0","id":3,"method":"route.text","params":{"text":"turn on the lights","top":-0}}',
        "export_cluster": b'{"jsonrpc":"2.0","id":4,"method":"export","params":{"cluster":18446744073709551616}}',
        "route_escapes": rb'{"jsonrpc":"2.0","id":"r\u0031","method":"route","params":{"task":"a\/b\u00e9\ud83d\ude00"}}',
        "route_lone_surrogate": rb'{"jsonrpc":"2.0","id":5,"method":"route","params":{"task":"\ud800"}}',
        "invalid_utf8": b'{"jsonrpc":"2.0","id":6,"method":"status","params":{"note":"\xff\xfe"}}',
    }
    for name, text in texts.items():
        put("FuzzProtocol", name + ".frame", raw_frame(text))
    # Several frames in one stream, and a stream that ends mid-frame.
    stream = b"".join(frame(requests[n]) for n in ["status", "route", "budget"])
    put("FuzzProtocol", "three_frames.stream", stream)
    put("FuzzProtocol", "truncated.stream", stream[:-7])
    total = sum(1 for _ in SEEDS.rglob("*") if _.is_file())
    print(f"{total} seed files under {SEEDS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
