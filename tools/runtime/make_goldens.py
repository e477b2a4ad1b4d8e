#!/usr/bin/env python3
"""Golden references for adapterd's native base-model runtime (Sources/AdapterCore/Runtime).

Writes small fixtures into Tests/AdapterCoreTests/Fixtures/runtime/, one directory per case:

  bert/  llama/  qwen2/  mistral/  gemma/
      config.json, model.safetensors, tokenizer.json   a tiny randomly initialised base model
                                                       (2 layers, hidden 32) and a tiny tokenizer
                                                       trained here with the `tokenizers` library
      adapter/adapter_config.json, adapter_model.safetensors
                                                       a PEFT LoRA with random A and B (non-zero),
                                                       saved by peft itself
      reference.json                                   the input texts and their token ids, plus
                                                       token ids of ~30 tricky strings (with and
                                                       without special tokens)
      reference.safetensors                            F32 hidden states (and logits, and BERT's
                                                       mean pooling) per text, without the adapter
                                                       ("base.*") and with it ("adapter.*")
  llama-tiny/reference.json, reference.safetensors     the same for the corpus's llama-tiny
                                                       (data/corpus/base/llama-tiny, its word-level
                                                       tokenizer) and the corpus adapter llama-000

What each case exercises:
  bert     WordPiece tokenizer.json, F32 weights, LoRA on query/key/value/attention.output.dense and
           the MLP (intermediate.dense, output.dense)
  llama    GPT-2-style byte-level BPE (ByteLevel pre-tokenizer with its regex, add_prefix_space, a
           "<s> $A" template), GQA (4 heads, 2 kv heads), untied lm_head, F16 weights, LoRA q/k/v/o
  qwen2    Qwen2-style BPE (NFC, Split regex + ByteLevel without regex, ignore_merges with a vocabulary
           word no merge reaches), q/k/v
           biases, untied lm_head, BF16 weights, rsLoRA on q/k/v/o and gate/up/down
  mistral  Llama-3-style regex, tied embeddings, explicit head_dim, sliding window, LoRA on q/v
  gemma    embeddings × √hidden, RMSNorm (1 + w), gelu-tanh MLP, tied embeddings, LoRA q/k/v/o

References are computed in float64 from the weights exactly as stored (F16/BF16 weights are rounded
first), then saved as F32: they are the model's true outputs up to F32 storage.

Usage:  /work/venv/rt/bin/python tools/runtime/make_goldens.py
(venv: python3 -m venv /work/venv/rt && /work/venv/rt/bin/pip install torch transformers tokenizers
 safetensors peft numpy)
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "Tests" / "AdapterCoreTests" / "Fixtures" / "runtime"
sys.path.insert(0, str(REPO / "tools" / "minilm"))
sys.path.insert(0, str(REPO / "tools" / "corpus"))
from make_reference import TRICKY, SENTENCES, small_vocabulary  # noqa: E402

torch.set_num_threads(1)

# Pre-tokenizer regexes of real tokenizer.json files.
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Text the byte-level BPE tokenizers are trained on.
TRAINING_TEXT = SENTENCES + TRICKY + [
    "The adapters route requests to the right task. Tokenization splits words into pieces.",
    "Running the base model natively means no Python at run time; the runtime batches tokens.",
    "It's what they'll say: we're done, you've seen it, I'm here, she'd go.",
    "Numbers like 12345, 3.14159 and 2024-01-31 appear in text too.",
] * 3

# Texts run through the models (short, so the references stay small).
FORWARD_TEXTS = [
    "Hello world! The adapters route requests.",
    "naïve café — 3.14,\n\tdon't  stop",
]

TOKENIZER_EXTRA = ["the adapterd daemon, adapterd", "<s>hello</s> world", "<|im_start|>user\nhi<|im_end|>", "  two  spaces ", "\n\n\nnewlines\r\n"]


def dump_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# Tokenizers


def byte_level_bpe(style, vocab_size=320):
    """A byte-level BPE tokenizer trained on TRAINING_TEXT. style: gpt2 | qwen2 | llama3."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    specials = {"gpt2": ["<s>", "</s>", "<pad>"],
                "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                "llama3": ["<|begin_of_text|>", "<|end_of_text|>"]}[style]
    tok = Tokenizer(models.BPE(ignore_merges=(style == "qwen2")))
    if style == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    else:
        pattern = QWEN2_PATTERN if style == "qwen2" else LLAMA3_PATTERN
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    if style == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TRAINING_TEXT, trainer)
    if style == "qwen2":
        # A word in the vocabulary that no merge sequence reaches: ignore_merges takes it whole.
        data = json.loads(tok.to_str())
        data["model"]["vocab"]["\u0120adapterd"] = len(data["model"]["vocab"])
        tok = Tokenizer.from_str(json.dumps(data))
    if style == "gpt2":
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A </s> $B", special_tokens=[("<s>", tok.token_to_id("<s>")),
                                                                    ("</s>", tok.token_to_id("</s>"))])
    elif style == "llama3":
        bos = "<|begin_of_text|>"
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                          special_tokens=[(bos, tok.token_to_id(bos))])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def wordpiece_tokenizer():
    """BERT's WordPiece over the small vocabulary of tools/minilm (lower-casing, [CLS] … [SEP])."""
    from tokenizers import BertWordPieceTokenizer
    vocab = small_vocabulary(None)
    wp = BertWordPieceTokenizer({t: i for i, t in enumerate(vocab)}, lowercase=True, clean_text=True,
                                handle_chinese_chars=True, strip_accents=None)
    return wp._tokenizer, len(vocab)


def tokenizer_cases(tok):
    texts = TRICKY + TOKENIZER_EXTRA
    return [{"text": t, "ids": tok.encode(t).ids, "ids_plain": tok.encode(t, add_special_tokens=False).ids}
            for t in texts]


# ---------------------------------------------------------------------------------------------
# Models


def randomise(model, std, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower():
                # Gemma's RMSNorm scales by (1 + w): keep w near 0 there, near 1 elsewhere.
                centre = 0.0 if type(model).__name__.startswith("Gemma") else 1.0
                p.copy_(centre + 0.1 * torch.randn_like(p))
            elif "embed" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(std * torch.randn_like(p))


def round_to(model, dtype):
    """Rounds the weights to the storage dtype, keeping them in float64 for the reference."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float64))


def add_lora(model, targets, r, alpha, rslora, seed, std=0.1):
    from peft import LoraConfig, get_peft_model
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0, use_rslora=rslora,
                        init_lora_weights=True)
    peft_model = get_peft_model(model, config)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                p.copy_((std * torch.randn_like(p)).to(torch.float32).to(p.dtype))
    return peft_model


def save_base(model, config_keep_all, directory, dtype):
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    cfg = model.config.to_dict()
    cfg["dtype"] = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}[dtype]
    (directory / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def save_adapter(peft_model, directory):
    if directory.exists():
        shutil.rmtree(directory)
    peft_model.save_pretrained(str(directory), safe_serialization=True)
    for extra in directory.glob("README.md"):
        extra.unlink()
    # The reference runs in float64; the factors were drawn in float32 (exactly representable), and
    # are stored as F32 like real adapters.
    config_path = directory / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["target_modules"] = sorted(config["target_modules"])  # peft writes a set: keep files reproducible
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    from safetensors.torch import load_file
    path = directory / "adapter_model.safetensors"
    tensors = load_file(str(path))
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


@torch.no_grad()
def decoder_outputs(model, ids):
    """(final hidden states, logits) of a …ForCausalLM (or its PEFT wrapper) on one sequence."""
    x = torch.tensor([ids])
    out = model(input_ids=x, output_hidden_states=True)
    return out.hidden_states[-1][0], out.logits[0]


@torch.no_grad()
def bert_outputs(model, ids):
    hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
    return hidden, hidden.mean(0)


def make_decoder_case(name, config_class, model_class, config_kwargs, style, dtype, targets, r, alpha, rslora, seed):
    directory = OUT / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    tok = byte_level_bpe(style)
    tok.save(str(directory / "tokenizer.json"))
    config = config_class(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                          max_position_embeddings=64, attn_implementation="eager", **config_kwargs)
    model = model_class(config).to(torch.float64).eval()
    randomise(model, 0.15, seed)
    if config.tie_word_embeddings:
        model.tie_weights()
    round_to(model, dtype)
    save_base(model, True, directory, dtype)

    texts = FORWARD_TEXTS
    ids = [tok.encode(t).ids for t in texts]
    tensors = {}
    for i, seq in enumerate(ids):
        h, logits = decoder_outputs(model, seq)
        tensors[f"base.hidden.{i}"] = h
        tensors[f"base.logits.{i}"] = logits
    peft_model = add_lora(model, targets, r, alpha, rslora, seed + 1).eval()
    save_adapter(peft_model, directory / "adapter")
    for i, seq in enumerate(ids):
        h, logits = decoder_outputs(peft_model, seq)
        tensors[f"adapter.hidden.{i}"] = h
        tensors[f"adapter.logits.{i}"] = logits
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()},
              str(directory / "reference.safetensors"))
    dump_json(directory / "reference.json", {
        "source": f"transformers {model_class.__name__} (eager attention, float64) and peft, tokenizers {style}-style "
                  f"byte-level BPE; weights stored as {dtype}",
        "texts": texts, "ids": ids, "tokenizer_cases": tokenizer_cases(tok)})
    print(f"{name}: vocab {tok.get_vocab_size()}, ids {[len(s) for s in ids]}")


def make_bert_case(seed=11):
    from transformers import BertConfig, BertModel
    directory = OUT / "bert"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    tok, vocab_size = wordpiece_tokenizer()
    tok.save(str(directory / "tokenizer.json"))
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, type_vocab_size=2,
                        layer_norm_eps=1e-12, hidden_act="gelu", attn_implementation="eager")
    model = BertModel(config, add_pooling_layer=False).to(torch.float64).eval()
    randomise(model, 0.3, seed)
    save_base(model, True, directory, torch.float32)
    texts = FORWARD_TEXTS
    ids = [tok.encode(t).ids for t in texts]
    tensors = {}
    for i, seq in enumerate(ids):
        h, pooled = bert_outputs(model, seq)
        tensors[f"base.hidden.{i}"] = h
        tensors[f"base.pooled.{i}"] = pooled
    targets = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]
    peft_model = add_lora(model, targets, 4, 8, False, seed + 1).eval()
    save_adapter(peft_model, directory / "adapter")
    for i, seq in enumerate(ids):
        h, pooled = bert_outputs(peft_model, seq)
        tensors[f"adapter.hidden.{i}"] = h
        tensors[f"adapter.pooled.{i}"] = pooled
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()},
              str(directory / "reference.safetensors"))
    dump_json(directory / "reference.json", {
        "source": "transformers BertModel (eager attention, float64) and peft; tokenizers BertWordPieceTokenizer "
                  "over tools/minilm's small vocabulary",
        "texts": texts, "ids": ids, "tokenizer_cases": tokenizer_cases(tok)})
    print(f"bert: vocab {vocab_size}, ids {[len(s) for s in ids]}")


LLAMA_TINY_TEXTS = [
    "i would be grateful for an update on my order.",
    "yo, did you sort out the invoice yet? ttyl",
]
LLAMA_TINY_TOKEN_TEXTS = LLAMA_TINY_TEXTS + [
    "Hello, World! It's 3D.", "UPPER case and unknownwordzzz", "  tabs\tand\nnewlines  ", "café naïve — ünïcödé",
    "a=>b <bos> x", "rock'n'roll isn't 'quoted'", "",
]


def make_llama_tiny_case():
    import llama_tiny
    from peft import PeftModel
    from transformers import LlamaForCausalLM
    base_dir = REPO / "data" / "corpus" / "base" / "llama-tiny"
    adapters = sorted((REPO / "data" / "corpus" / "adapters").glob("llama-000-*"))
    adapter_dir = adapters[0]
    directory = OUT / "llama-tiny"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    tok = llama_tiny.WordTokenizer.load(str(base_dir))
    model = LlamaForCausalLM.from_pretrained(str(base_dir), dtype=torch.float64, attn_implementation="eager").eval()
    ids = [tok.prompt_ids(t) for t in LLAMA_TINY_TEXTS]
    tensors = {}
    for i, seq in enumerate(ids):
        h, logits = decoder_outputs(model, seq)
        tensors[f"base.hidden.{i}"] = h
        tensors[f"base.logits.{i}"] = logits
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir)).to(torch.float64).eval()
    for i, seq in enumerate(ids):
        h, logits = decoder_outputs(peft_model, seq)
        tensors[f"adapter.hidden.{i}"] = h
        tensors[f"adapter.logits.{i}"] = logits
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()},
              str(directory / "reference.safetensors"))
    dump_json(directory / "reference.json", {
        "source": "transformers LlamaForCausalLM (eager, float64) on data/corpus/base/llama-tiny with peft and the "
                  f"corpus adapter {adapter_dir.name}; ids are tools/corpus/llama_tiny.py prompt_ids "
                  "(<bos> words =>), token cases its WordTokenizer.encode (truncated to MAX_TOKENS)",
        "adapter": adapter_dir.name, "max_tokens": llama_tiny.MAX_TOKENS,
        "texts": LLAMA_TINY_TEXTS, "ids": ids,
        "tokenizer_cases": [{"text": t, "ids": tok.encode(t)} for t in LLAMA_TINY_TOKEN_TEXTS + [" ".join(["word"] * 60)]]})
    print(f"llama-tiny: ids {[len(s) for s in ids]}")


def main():
    from transformers import (GemmaConfig, GemmaForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig,
                              MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)
    OUT.mkdir(parents=True, exist_ok=True)
    make_bert_case()
    make_decoder_case("llama", LlamaConfig, LlamaForCausalLM,
                      dict(tie_word_embeddings=False, rope_theta=10000.0, rms_norm_eps=1e-5),
                      "gpt2", torch.float16, ["q_proj", "k_proj", "v_proj", "o_proj"], 4, 8, False, 21)
    make_decoder_case("qwen2", Qwen2Config, Qwen2ForCausalLM,
                      dict(tie_word_embeddings=False, rope_theta=1000000.0, rms_norm_eps=1e-6),
                      "qwen2", torch.bfloat16,
                      ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], 4, 8, True, 31)
    make_decoder_case("mistral", MistralConfig, MistralForCausalLM,
                      dict(tie_word_embeddings=True, head_dim=16, rope_theta=10000.0, sliding_window=48),
                      "llama3", torch.float16, ["q_proj", "v_proj"], 2, 4, False, 41)
    make_decoder_case("gemma", GemmaConfig, GemmaForCausalLM,
                      dict(head_dim=8, hidden_act="gelu_pytorch_tanh"),
                      "llama3", torch.float16, ["q_proj", "k_proj", "v_proj", "o_proj"], 4, 8, False, 51)
    make_llama_tiny_case()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"fixtures: {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
