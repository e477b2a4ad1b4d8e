"""llama-tiny: a small LlamaForCausalLM (GQA) with a byte-level vocabulary, pretrained by the
corpus generator on its own template text, so that causal-LM LoRA adapters with Llama module
naming (q_proj, k_proj, v_proj, o_proj) are part of the corpus.

Vocabulary: ids 0..255 are bytes of the UTF-8 text, 256 = beginning of sequence, 257 = end of
sequence, 258 = padding. Classification prompt: "<text> =>", answer " <label>" + end of sequence.
"""
import json
import os
import random

import torch

BOS, EOS, PAD = 256, 257, 258
VOCAB = 259
MAX_BYTES = 120

CONFIG = dict(vocab_size=VOCAB, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=160,
              bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, tie_word_embeddings=True,
              rms_norm_eps=1e-5, rope_theta=10000.0)


def encode(text):
    return list(text.encode("utf-8"))[:MAX_BYTES]


def prompt_ids(text):
    return [BOS] + encode(text) + list(" =>".encode())


def answer_ids(label):
    return list((" " + label).encode()) + [EOS]


def make_model(seed):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**CONFIG))


def load_base(path):
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
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
            seq = p
            lab = p[:]
        else:
            seq = p + a
            lab = [-100] * len(p) + a
        inputs.append(seq)
        labels.append(lab)
    ids = _pad(inputs, PAD)
    lab = _pad(labels, -100)
    mask = (ids != PAD).long()
    return ids, mask, lab


def lm_loss(model, pairs):
    ids, mask, lab = lm_batch(pairs)
    return model(input_ids=ids, attention_mask=mask, labels=lab).loss


def pretrain(texts, family_labels, steps, seed, log=print):
    """Pretrain a fresh llama-tiny: half plain text lines, half "text => random label of its family"
    (so the format and the label words are known, but no task mapping is)."""
    rng = random.Random(seed)
    model = make_model(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    for step in range(steps):
        pairs = []
        for _ in range(32):
            text, fam = rng.choice(texts)
            if rng.random() < 0.5:
                pairs.append(([BOS] + encode(text) + [EOS], None))
            else:
                pairs.append((prompt_ids(text), answer_ids(rng.choice(family_labels[fam]))))
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
def label_scores(model, texts, labels, batch_size=64):
    """[n, len(labels)] summed log-probability of each label's answer bytes after the prompt."""
    model.eval()
    rows = []
    for i in range(0, len(texts), batch_size):
        chunk = texts[i:i + batch_size]
        pairs = [(prompt_ids(t), answer_ids(l)) for t in chunk for l in labels]
        ids, mask, lab = lm_batch(pairs)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        target = lab[:, 1:]
        logp = torch.log_softmax(logits.float(), -1)
        tok = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        tok = tok * (target != -100)
        rows.append(tok.sum(-1).view(len(chunk), len(labels)))
    return torch.cat(rows)


def predict(model, texts, labels):
    return label_scores(model, texts, labels).argmax(-1).tolist()


def save_base(model, path):
    os.makedirs(path, exist_ok=True)
    model.half().save_pretrained(path, safe_serialization=True)
    model.float()
    with open(os.path.join(path, "tokenizer_bytes.json"), "w") as f:
        json.dump({"kind": "bytes", "bytes": "ids 0..255 are UTF-8 bytes", "bos_token_id": BOS,
                   "eos_token_id": EOS, "pad_token_id": PAD, "vocab_size": VOCAB,
                   "prompt": "<bos><text> =>", "answer": " <label><eos>"}, f, indent=1)
