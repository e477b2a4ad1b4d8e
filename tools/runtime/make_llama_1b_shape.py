#!/usr/bin/env python3
"""Writes a random-weight model of Llama-3.2-1B's shape and a random rank-16 LoRA for it, to time the
native runtime and the behavioural probe at that size (docs/DETECTOR.md, "Cost").

    make_llama_1b_shape.py OUT_DIR

OUT_DIR/base: config.json (Llama-3.2-1B's dimensions: hidden 2048, 16 layers, 32 heads, 8 key/value
heads, MLP 8192, vocabulary 128256, tied embeddings), model.safetensors in BF16 (~2.5 GB) and the
corpus llama-tiny's tokenizer files (its ids are all below the vocabulary size; only the cost is
measured, not what the model says). OUT_DIR/adapter: a PEFT LoRA on q, k, v, o (rank 16) with random
A and B. Needs torch, transformers and peft (tools only).
"""
import shutil
import sys
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

out = Path(sys.argv[1])
repo = Path(__file__).resolve().parents[2]
tiny = repo / "data/corpus/base/llama-tiny"
torch.manual_seed(0)
config = LlamaConfig(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=64, vocab_size=128256, max_position_embeddings=131072,
                     rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True, hidden_act="silu",
                     bos_token_id=1, eos_token_id=2)
with torch.device("cpu"):
    model = LlamaForCausalLM(config).to(torch.bfloat16)
base = out / "base"
model.save_pretrained(base, safe_serialization=True)
for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer_words.json"):
    if (tiny / name).exists():
        shutil.copy(tiny / name, base / name)
lora = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                        init_lora_weights=False))
lora.save_pretrained(out / "adapter")
print("wrote", base, "and", out / "adapter")
