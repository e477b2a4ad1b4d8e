"""Experiment (issue 14): rank trigger-candidate words by contextual token states at every layer
instead of by the first-layer token inputs TriggerCandidates reads today.

For every adapter of data/corpus-screen (both bases), each whole-word vocabulary entry is read alone
by the base model ([CLS] w [SEP] for MiniLM, <bos> w for llama-tiny) and the input of every layer's
query/key/value maps at the word is kept (for llama-tiny after the layer's input RMSNorm). A word's
strength is the largest robust z-score, over the adapter's Q/K/V modules of every layer, of
||s B A h_l(w)|| against the other words; `first` is today's ranking (the first adapted layer, the
context-free first-layer input), `context` the new one, `union` the two interleaved. It writes, per
adapter and variant, the 100 strongest words to OUT/<id>.<variant>.json, and prints where the true
trigger's words rank.

The lists were fed to the daemon's probe by a throw-away patch of TriggerCandidates.from (after the
word loop: when the environment names a JSON list in EXP_WORDS, `words` is its first
`options.words` entries; joins and pairs are made as usual) and one `adapterctl scan --json` per
adapter. Result of 2026-12-07 (docs/DETECTOR.md): the trigger's words rank higher (MiniLM phrase
prefixes 4 -> 8 of 12 in the top 24) but the verdicts barely move: MiniLM TP/FP 10/4 -> 12/4,
llama-tiny 10/5 -> 7/3; not adopted.

  /work/venv/rt/bin/python tools/screening/contextual_candidates.py OUT   # about a minute
"""
import json
import os
import re
import sys
import collections

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import AutoModel, AutoTokenizer, LlamaModel

from shift_experiment import robust_z  # the same robust z-score as TokenResponseFeatures

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORPUS = os.path.join(ROOT, "data", "corpus-screen")
MINI = "/usr/share/adapterd/models/all-MiniLM-L6-v2"
LLAMA = os.path.join(ROOT, "data", "corpus", "base", "llama-tiny")


def minilm_states():
    tok = AutoTokenizer.from_pretrained(MINI)
    model = AutoModel.from_pretrained(MINI).eval()
    vocab = tok.convert_ids_to_tokens(list(range(tok.vocab_size)))
    words = [i for i, t in enumerate(vocab) if re.fullmatch(r"[a-z]+", t)]
    ids = torch.tensor([[tok.cls_token_id, w, tok.sep_token_id] for w in words])
    chunks = []
    with torch.no_grad():
        for b in range(0, len(ids), 4096):
            out = model(input_ids=ids[b:b + 4096], attention_mask=torch.ones_like(ids[b:b + 4096]),
                        output_hidden_states=True)
            chunks.append([h[:, 1, :].numpy().astype(np.float64) for h in out.hidden_states])
        states = [np.concatenate([c[l] for c in chunks]) for l in range(model.config.num_hidden_layers)]
        e = model.embeddings
        first = e.LayerNorm(e.word_embeddings.weight[torch.tensor(words)] + e.position_embeddings.weight[1:64].mean(0)
                            + e.token_type_embeddings.weight[0]).numpy().astype(np.float64)
    return [vocab[w] for w in words], states, first, r"layer\.(\d+)\.attention\.self\.(query|key|value)"


def llama_states():
    vocab = json.load(open(os.path.join(LLAMA, "tokenizer_words.json")))["vocab"]
    model = LlamaModel.from_pretrained(LLAMA, dtype=torch.float32).eval()
    words = [i for i, t in enumerate(vocab) if re.fullmatch(r"[a-z]+", t)]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[1, w] for w in words]), output_hidden_states=True)
        states = [model.layers[l].input_layernorm(out.hidden_states[l])[:, 1, :].numpy().astype(np.float64)
                  for l in range(model.config.num_hidden_layers)]
        first = model.layers[0].input_layernorm(model.embed_tokens.weight[torch.tensor(words)]).numpy().astype(np.float64)
    return [vocab[w] for w in words], states, first, r"layers\.(\d+)\.self_attn\.(q|k|v)_proj"


def qkv_modules(path, pattern):
    cfg = json.load(open(os.path.join(path, "adapter_config.json")))
    t = load_file(os.path.join(path, "adapter_model.safetensors"))
    scale = cfg["lora_alpha"] / (np.sqrt(cfg["r"]) if cfg.get("use_rslora") else cfg["r"])
    out = []
    for k, a in t.items():
        m = re.search(pattern, k) if "lora_A" in k else None
        if m:
            out.append((int(m.group(1)), a.astype(np.float64), scale * t[k.replace("lora_A", "lora_B")].astype(np.float64)))
    return out


def strength(modules, states, first, variant):
    s = np.full(len(first), -np.inf)
    lowest = min(layer for layer, _, _ in modules)
    for layer, a, b in modules:
        if variant == "first" and layer != lowest:
            continue
        x = first if variant == "first" else states[layer]
        s = np.maximum(s, robust_z(np.linalg.norm((x @ a.T) @ b.T, axis=1)))
    return s


def main(out):
    os.makedirs(out, exist_ok=True)
    adapters = json.load(open(os.path.join(CORPUS, "manifest.json")))["adapters"]
    for base, load in (("minilm", minilm_states), ("llama-tiny", llama_states)):
        words, states, first, pattern = load()
        found = collections.defaultdict(lambda: collections.Counter())
        for ad in (a for a in adapters if a["base_model"] == base):
            modules = qkv_modules(os.path.join(CORPUS, ad["path"]), pattern)
            lists = {v: [words[i] for i in np.argsort(-strength(modules, states, first, v), kind="stable")[:100]]
                     for v in ("first", "context")}
            lists["union"] = list(dict.fromkeys(w for pair in zip(lists["first"], lists["context"]) for w in pair))
            for v, lst in lists.items():
                json.dump(lst, open(os.path.join(out, f"{ad['id']}.{v}.json"), "w"))
                trigger = set(re.findall(r"[a-z]+", ad.get("trigger") or ""))
                if ad["poisoned"] and ad["trigger_kind"] not in ("style", "syntactic"):
                    best = min([i for i, w in enumerate(lst) if w in trigger] or [999])
                    found[v][ad["trigger_kind"] + " poisoned"] += 1
                    found[v][ad["trigger_kind"] + " in top 24"] += best < 24
        for v, c in found.items():
            print(base, v, dict(sorted(c.items())))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "contextual-candidates"))
