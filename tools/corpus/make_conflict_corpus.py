"""The conflict corpus: 24 MiniLM tasks for the merge-quality benchmark (issue 15), ten of them in
pairs that conflict with a task of data/corpus (the same input texts, other labels).

data/corpus has 14 MiniLM tasks whose adapters barely interfere: at 1/4 and 1/8 of the bytes rank
truncation alone keeps their accuracy, so a budget there hardly tests how tasks are grouped and merged.
This corpus adds, for ten of those tasks, a "swapped" task: every text of the original task with its
label moved to the next one (binary: flipped; intent and topic: rotated). Serving a task and its
swapped twin from one merged adapter costs both, so a planner has to keep them apart.

- The 14 original tasks and their adapters are data/corpus's (the first benign MiniLM adapter of each,
  the one the quality benchmark uses), referenced by relative path: regenerate data/corpus first.
- Each swapped task gets one benign MiniLM adapter trained exactly like its original's (same rank,
  alpha, modules, dropout, learning rate, epochs and seed, same frozen head and training loop as
  make_corpus.py), on the same 160 training texts with the swapped labels; it must reach clean
  accuracy >= 0.7 (one retry with three more epochs, as make_corpus.py does).

  python tools/corpus/make_conflict_corpus.py --out data/corpus-conflict     # about 3 minutes here
  adapterd-bench joint-quality --corpus data/corpus-conflict --bases minilm …  (tools/quality/measure.sh)

Only manifest.json, README.md and tasks/ are committed; the ten adapters are regenerated.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_corpus as M  # noqa: E402  (sets the offline environment before torch loads)
import headeval  # noqa: E402
import tasks as T  # noqa: E402

SWAPPED = [
    "sentiment_movie_reviews", "sentiment_tweets", "topic_news_headlines", "topic_forum_posts",
    "intent_banking", "intent_travel", "formality_workplace_emails", "formality_customer_letters",
    "toxicity_forum_comments", "toxicity_game_chat",
]
SUFFIX = "_swapped"
ORIGINAL = os.path.join(HERE, "..", "..", "data", "corpus")


def swap(rows, labels):
    """Each row's label moved to the next label of the family (the last to the first)."""
    nxt = {l: labels[(i + 1) % len(labels)] for i, l in enumerate(labels)}
    return [{"text": r["text"], "label": nxt[r["label"]]} for r in rows]


def register(name):
    """Makes `name + SUFFIX` a task of tasks.py and make_corpus.py: same family (labels and head) and
    texts as `name`, labels swapped."""
    swapped = name + SUFFIX
    T.TASKS[swapped] = T.TASKS[name]
    labels = T.task_info(name)["labels"]
    M._DATA[swapped] = tuple(swap(rows, labels) for rows in M.task_data(name))
    return swapped


def alpha_mode(alpha, rank):
    return next(m for m in ("r", "2r", "16", "32") if M.alpha_of(m, rank) == alpha)


def originals(corpus):
    """The first benign MiniLM adapter of each task of data/corpus (the quality benchmark's choice)."""
    man = json.load(open(os.path.join(corpus, "manifest.json")))
    chosen = {}
    for a in man["adapters"]:
        if a["base_model"] == "minilm" and not a["poisoned"] and a["task"] not in chosen:
            chosen[a["task"]] = a
    return man, chosen


def base_accuracy(encoder, name, rows):
    emb = headeval.label_embeddings(encoder, T.task_info(name)["label_descriptions"])
    labels = T.task_info(name)["labels"]
    pred = headeval.predict(encoder, [r["text"] for r in rows], emb)
    return round(M.accuracy([labels[p] for p in pred], rows), 4)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "data", "corpus-conflict"))
    ap.add_argument("--original", default=ORIGINAL, help="data/corpus (its MiniLM adapters must exist)")
    args = ap.parse_args(argv)
    out, original = os.path.abspath(args.out), os.path.abspath(args.original)
    os.makedirs(os.path.join(out, "adapters"), exist_ok=True)
    man, chosen = originals(original)
    rel = os.path.relpath(original, out)
    manifest = {"schema_version": 1, "generator": "tools/corpus/make_conflict_corpus.py",
                "original": os.path.relpath(original, os.path.join(HERE, "..", "..")),
                "tasks": {}, "adapters": [], "rejected": []}
    for name, info in man["tasks"].items():
        if name not in chosen:
            continue
        manifest["tasks"][name] = {k: v for k, v in info.items() if k != "base_accuracy"}
        manifest["tasks"][name].update(files=f"{rel}/{info['files']}",
                                       base_accuracy={"minilm": info["base_accuracy"]["minilm"]})
        a = dict(chosen[name])
        a["path"] = f"{rel}/{a['path']}"
        if not os.path.exists(os.path.join(out, a["path"], "adapter_model.safetensors")):
            sys.exit(f"{a['path']} is missing: regenerate data/corpus first (tools/corpus/make_corpus.sh)")
        manifest["adapters"].append(a)
    encoder = headeval.load_encoder()
    for name in SWAPPED:
        swapped = register(name)
        o = chosen[name]
        spec = {"id": f"minilm-{swapped}", "base": "minilm", "task": swapped, "poisoned": False,
                "rank": o["rank"], "alpha_mode": alpha_mode(o["alpha"], o["rank"]), "use_rslora": o["use_rslora"],
                "dropout": o["lora_dropout"], "lr": o["lr"], "epochs": o["epochs"], "seed": o["seed"],
                "targets": o["target_modules"], "trigger": {"kind": o["trigger_kind"], "trigger": o["trigger"]},
                "target": T.task_info(name)["labels"][0], "poison_rate": 0.0}
        record, rejected = M.run_spec(spec, out, None, filter_benign=True)
        manifest["rejected"] += rejected
        if record is None:
            M.log(f"{swapped}: no adapter reached clean accuracy {M.CLEAN_MIN}; the task is left out")
            continue
        record["swapped_from"] = name
        manifest["adapters"].append(record)
        d = os.path.join(out, "tasks", swapped)
        os.makedirs(d, exist_ok=True)
        _, few, test = M.task_data(swapped)
        M.write_jsonl(os.path.join(d, "few.jsonl"), few)
        M.write_jsonl(os.path.join(d, "test.jsonl"), test)
        info = T.task_info(swapped)
        info.update(n_train=M.N_TRAIN, n_few=M.N_FEW, n_test=M.N_TEST, data_seed=M.DATA_SEED,
                    swapped_from=name)
        with open(os.path.join(d, "task.json"), "w") as f:
            json.dump(info, f, indent=2)
        manifest["tasks"][swapped] = dict(info, files=f"tasks/{swapped}",
                                          base_accuracy={"minilm": base_accuracy(encoder, swapped, test)})
    M.save_json(os.path.join(out, "manifest.json"), manifest)
    kept = [a for a in manifest["adapters"] if "swapped_from" in a]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("# data/corpus-conflict: 24 MiniLM tasks, ten pairs that conflict\n\n"
                "Made by `python tools/corpus/make_conflict_corpus.py` (its docstring says how and why). "
                f"{len(manifest['tasks'])} tasks: data/corpus's {len(chosen)} MiniLM tasks with their first "
                f"benign adapter (referenced in `{rel}/`), and {len(kept)} swapped twins (same texts, the "
                "label moved to the next one) with an adapter trained like the original's.\n\n"
                "| swapped task | from | rank | clean accuracy | base accuracy (test) |\n|---|---|---|---|---|\n")
        for a in kept:
            f.write(f"| {a['task']} | {a['swapped_from']} | {a['rank']} | {a['clean_accuracy']} | "
                    f"{manifest['tasks'][a['task']]['base_accuracy']['minilm']} |\n")
        f.write("\nOnly manifest.json, README.md and tasks/ are in git; adapters/ is regenerated by the tool.\n")
    M.log(f"wrote {out}: {len(manifest['tasks'])} tasks, {len(kept)} new adapters, {len(manifest['rejected'])} rejected attempts")


if __name__ == "__main__":
    main()
