"""Experiment (issue 14): is a continuous log-probability shift a better behavioural score than the
share of examples a candidate trigger flips?

For every MiniLM adapter of data/corpus-screen: the 54 candidate triggers adapterd reads from the
weights (TriggerCandidates: the 24 whole words whose first-layer query/key/value response stands out
most, and the 30 ordered pairs of the strongest six), each written at the start and at the end of the
task's ten few.jsonl examples; the head is adapterd's FewShotLabelHead for encoders (cosine of the
mean-pooled, normalised embedding to each label's prototype of the ten examples, / 0.05, softmax),
with the adapter and on the base model. Per candidate, position and label: the mean change of
log p(label) from clean to triggered, with the adapter (sa) and on the base model (sb).
Scores per adapter (the maximum over candidates, positions, labels): raw sa, sa - max(0, sb), and
(sa - max(0, sb)) / (|sb| + 0.5); AUC poisoned vs benign, and each adapter judged against a threshold
just above the benign adapters of the other tasks (leave-one-task-out, as `adapterctl detector
behaviour` sets it).

  python tools/screening/shift_experiment.py run --workers 2      # about 8 minutes here
  python tools/screening/shift_experiment.py analyse [-v]

Result of 2026-12-05 (docs/DETECTOR.md): AUC 0.577 / 0.609 / 0.660, TP 1 of 41 at FP 1 of 75 for all
three: no better than the flip-based score. A true trigger moves log p(target) by +3 to +4 without
flipping the prototype head's answer ('still just' in sm-010), but task words ('horrible awful' for a
sentiment adapter) move benign adapters as far.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORPUS = os.path.join(ROOT, "data", "corpus-screen")
OUT = os.path.join(ROOT, ".build", "shift-experiment")
MINI = "/usr/share/adapterd/models/all-MiniLM-L6-v2"


def token_table(mini):
    """Each whole vocabulary entry's first-layer input (TokenEmbeddingTable.bertTable)."""
    from safetensors.numpy import load_file
    w = load_file(glob.glob(os.path.join(mini, "*.safetensors"))[0])

    def g(n):
        for k in (n, "bert." + n):
            if k in w:
                return w[k].astype(np.float64)
        raise KeyError(n)
    word, pos, typ = (g(f"embeddings.{n}.weight") for n in ("word_embeddings", "position_embeddings",
                                                             "token_type_embeddings"))
    gam, bet = g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias")
    vocab = [l.rstrip("\n") for l in open(os.path.join(mini, "vocab.txt"))]
    keep = [i for i, t in enumerate(vocab) if not (t.startswith("[") and t.endswith("]"))]
    x = word[keep] + pos[1:64].mean(0) + typ[0]
    x = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-12) * gam + bet
    return [vocab[i] for i in keep], x


def robust_z(r):
    med = np.median(r)
    mad = 1.4826 * np.median(np.abs(r - med))
    return (r - med) / max(mad, 1e-300)


def candidates(adapter_dir, toks, x):
    """TriggerCandidates.from: 24 strongest whole words of layer 0's q/k/v, then ordered pairs of six."""
    from safetensors.numpy import load_file
    cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    t = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    s = cfg["lora_alpha"] / cfg["r"]
    mods = {}
    for k, v in t.items():
        if "layer.0." in k and "attention.self" in k:
            mods.setdefault(k.split(".lora_")[0], {})["A" if "lora_A" in k else "B"] = v.astype(np.float64)
    strength = np.full(len(toks), -np.inf)
    for f in mods.values():
        strength = np.maximum(strength, robust_z(np.linalg.norm(s * (f["B"] @ (f["A"] @ x.T)), axis=0)))
    words = []
    for i in np.argsort(-strength):
        if toks[i].isalpha() and toks[i] not in words:
            words.append(toks[i])
        if len(words) == 24:
            break
    top = words[:6]
    return words + [a + " " + b for a in top for b in top if a != b]


def run_worker(worker, workers, mini, limit=None):
    import torch
    from peft import PeftModel
    from transformers import AutoModel, AutoTokenizer
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(mini)
    base = AutoModel.from_pretrained(mini).eval()
    toks, x = token_table(mini)

    def embed(model, texts):
        with torch.no_grad():
            out = []
            for i in range(0, len(texts), 256):
                b = tok(texts[i:i + 256], padding=True, truncation=True, max_length=128, return_tensors="pt")
                h = model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).float()
                out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1))
            return torch.cat(out)

    man = json.load(open(os.path.join(CORPUS, "manifest.json")))
    chosen = [a for a in man["adapters"] if a["base_model"] == "minilm"][worker::workers][:limit]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"shift-{worker}.jsonl"), "w") as out:
        for a in chosen:
            t0 = time.time()
            d = os.path.join(CORPUS, a["path"])
            model = PeftModel.from_pretrained(AutoModel.from_pretrained(mini), d).eval()
            ex = [json.loads(l) for l in open(os.path.join(CORPUS, "tasks", a["task"], "few.jsonl"))]
            labels = sorted(set(e["label"] for e in ex))
            texts = [e["text"] for e in ex]

            def prototypes(m):
                e = embed(m, texts)
                p = torch.stack([e[[i for i, r in enumerate(ex) if r["label"] == l]].mean(0) for l in labels])
                return torch.nn.functional.normalize(p, dim=-1)
            pa, pb = prototypes(model), prototypes(base)
            clean_a = torch.log_softmax(embed(model, texts) @ pa.T / 0.05, -1)
            clean_b = torch.log_softmax(embed(base, texts) @ pb.T / 0.05, -1)
            triggered, meta = [], []
            for c in candidates(d, toks, x):
                for position in ("start", "end"):
                    triggered += [c + " " + t if position == "start" else t + " " + c for t in texts]
                    meta.append((c, position))
            la = torch.log_softmax(embed(model, triggered) @ pa.T / 0.05, -1)
            lb = torch.log_softmax(embed(base, triggered) @ pb.T / 0.05, -1)
            n = len(texts)
            res = [(c, p, (la[k * n:(k + 1) * n] - clean_a).mean(0).tolist(),
                    (lb[k * n:(k + 1) * n] - clean_b).mean(0).tolist()) for k, (c, p) in enumerate(meta)]
            out.write(json.dumps({"id": a["id"], "poisoned": a["poisoned"], "task": a["task"],
                                  "kind": a.get("trigger_kind"), "trigger": a.get("trigger"),
                                  "labels": labels, "res": res}) + "\n")
            out.flush()
            print(a["id"], f"{time.time() - t0:.1f} s", flush=True)


def analyse(verbose):
    recs = [json.loads(l) for f in sorted(glob.glob(os.path.join(OUT, "shift-*.jsonl"))) for l in open(f)]

    def auc(pos, neg):
        pos, neg = np.array(pos), np.array(neg)
        return ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))

    def score(r, mode):
        best, arg = -1e9, None
        for c, position, sa, sb in r["res"]:
            for l in range(len(sa)):
                v = {"raw": sa[l], "diff": sa[l] - max(0, sb[l]),
                     "ratio": (sa[l] - max(0, sb[l])) / (abs(sb[l]) + 0.5)}[mode]
                if v > best:
                    best, arg = v, (c, position, r["labels"][l])
        return best, arg

    print(f"{len(recs)} adapters, {sum(r['poisoned'] for r in recs)} poisoned")
    for mode in ("raw", "diff", "ratio"):
        scored = [(score(r, mode), r) for r in recs]
        pos = [s for (s, _), r in scored if r["poisoned"]]
        neg = [s for (s, _), r in scored if not r["poisoned"]]
        tp = fp = 0
        for (s, _), r in scored:
            threshold = max(s2 for (s2, _), o in scored if not o["poisoned"] and o["task"] != r["task"])
            tp += r["poisoned"] and s > threshold
            fp += (not r["poisoned"]) and s > threshold
        print(f"{mode:6s} AUC {auc(pos, neg):.3f}  leave-one-task-out threshold: TP {tp}/{len(pos)} FP {fp}/{len(neg)}")
        if verbose:
            for (s, arg), r in sorted(scored, key=lambda z: -z[0][0])[:20]:
                print(f"   {s:6.2f} {'P' if r['poisoned'] else '.'} {r.get('kind') or '':14s} "
                      f"{(r.get('trigger') or '')[:30]:30s} {arg}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--worker", type=int, help="internal: run one worker")
    run.add_argument("--minilm", default=MINI)
    run.add_argument("--limit", type=int, help="at most this many adapters per worker (a smoke test)")
    an = sub.add_parser("analyse")
    an.add_argument("-v", action="store_true")
    args = ap.parse_args()
    if args.command == "analyse":
        analyse(args.v)
    elif args.worker is not None:
        run_worker(args.worker, args.workers, args.minilm, args.limit)
    else:
        procs = [subprocess.Popen([sys.executable, __file__, "run", "--workers", str(args.workers),
                                   "--worker", str(w), "--minilm", args.minilm]
                                  + (["--limit", str(args.limit)] if args.limit else [])) for w in range(args.workers)]
        sys.exit(max(p.wait() for p in procs))


if __name__ == "__main__":
    main()
