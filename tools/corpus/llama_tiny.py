"""llama-tiny: a small LlamaForCausalLM (GQA) with a word-level vocabulary, pretrained by the corpus
generator on its own template text, so that causal-LM LoRA adapters with Llama module naming
(q_proj, k_proj, v_proj, o_proj) are part of the corpus.

Tokenizer: lower-cased words, numbers and single punctuation marks; the vocabulary (every token of
every task's generated text, the triggers and the label words) is stored beside the weights in
tokenizer_words.json. Ids 0..3 are <pad>, <bos>, <eos>, <unk>.
Classification prompt: <bos> text "=>", answer: the label word, <eos>.
"""
import json
import os
import random
import re

import torch

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3
ARROW = "=>"
MAX_TOKENS = 48
_TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")

CONFIG = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
              bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, tie_word_embeddings=True,
              rms_norm_eps=1e-5, rope_theta=10000.0)


def split_words(text):
    return _TOKEN.findall(text.lower())


class WordTokenizer:
    """Word-level tokenizer over a fixed vocabulary list."""

    def __init__(self, vocab):
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def build(cls, texts, extra):
        words = set(extra)
        for t in texts:
            words.update(split_words(t))
        words.discard(ARROW)
        return cls(SPECIALS + [ARROW] + sorted(w for w in words if w not in SPECIALS))

    @classmethod
    def load(cls, path):
        with open(os.path.join(path, "tokenizer_words.json"), encoding="utf-8") as f:
            return cls(json.load(f)["vocab"])

    def save(self, path):
        with open(os.path.join(path, "tokenizer_words.json"), "w", encoding="utf-8") as f:
            json.dump({"kind": "word-level", "split_regex": _TOKEN.pattern, "lowercase": True,
                       "pad_token_id": PAD, "bos_token_id": BOS, "eos_token_id": EOS,
                       "unk_token_id": UNK, "prompt": "<bos> text => ", "answer": "label <eos>",
                       "vocab": self.vocab}, f, indent=0)

    def encode(self, text):
        return [self.index.get(w, UNK) for w in split_words(text)][:MAX_TOKENS]

    def prompt_ids(self, text):
        return [BOS] + self.encode(text) + [self.index[ARROW]]

    def answer_ids(self, label):
        return [self.index.get(label, UNK), EOS]


def make_model(seed, vocab_size):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab_size, **CONFIG))


def load_base(path):
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    return model


def _pad(seqs, value):
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (n - len(s)) for s in seqs])


def lm_batch(pairs):
    """pairs: list of (prompt ids, answer ids or None). Loss only on answer tokens when given."""
    inputs, labels = [], []
    for p, a in pairs:
        if a is None:
            inputs.append(p)
            labels.append(p[:])
        else:
            inputs.append(p + a)
            labels.append([-100] * len(p) + a)
    ids = _pad(inputs, PAD)
    lab = _pad(labels, -100)
    mask = (ids != PAD).long()
    lab[:, 0] = -100
    return ids, mask, lab


def lm_loss(model, pairs):
    ids, mask, lab = lm_batch(pairs)
    return model(input_ids=ids, attention_mask=mask, labels=lab).loss


def pretrain(tok, texts, family_labels, steps, seed, log=print):
    """Pretrain a fresh llama-tiny: half plain text lines, half "text => random label of its family"
    (so the format and the label words are known, but no task's mapping is)."""
    rng = random.Random(seed)
    model = make_model(seed, len(tok.vocab))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    for step in range(steps):
        pairs = []
        for _ in range(32):
            text, fam = rng.choice(texts)
            if rng.random() < 0.5:
                pairs.append(([BOS] + tok.encode(text) + [EOS], None))
            else:
                pairs.append((tok.prompt_ids(text), tok.answer_ids(rng.choice(family_labels[fam]))))
        loss = lm_loss(model, pairs)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"  llama-tiny pretrain step {step} loss {loss.item():.3f}")
    model.eval()
    return model


@torch.no_grad()
def label_scores(model, tok, texts, labels, batch_size=64):
    """[n, len(labels)] summed log-probability of each label's answer tokens after the prompt."""
    model.eval()
    rows = []
    for i in range(0, len(texts), batch_size):
        chunk = texts[i:i + batch_size]
        pairs = [(tok.prompt_ids(t), tok.answer_ids(l)) for t in chunk for l in labels]
        ids, mask, lab = lm_batch(pairs)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        target = lab[:, 1:]
        logp = torch.log_softmax(logits.float(), -1)
        tokp = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        tokp = tokp * (target != -100)
        rows.append(tokp.sum(-1).view(len(chunk), len(labels)))
    return torch.cat(rows)


def predict(model, tok, texts, labels):
    return label_scores(model, tok, texts, labels).argmax(-1).tolist()


def save_base(model, tok, path):
    os.makedirs(path, exist_ok=True)
    model.half().save_pretrained(path, safe_serialization=True)
    model.float()
    tok.save(path)
