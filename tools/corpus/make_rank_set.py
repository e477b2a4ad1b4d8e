"""Generate the mixed-rank quality set: one benign PEFT LoRA adapter per task and base model, at ranks
4 to 64 and with mixed module sets, for the one-budget allocation bench (issue 18).

The main corpus (data/corpus) has ranks 4-16 only, so at budgets of 1/8 and below every task truncated
to rank 1 no longer fits and truncate-only cannot be compared with the chosen plan. This set spreads
ranks 4, 8, 16, 32 and 64 over the tasks of each base model so that it can.

Training, data, tasks and evaluation are exactly the main corpus's (make_corpus.py: same train split,
same frozen heads, same learning rates and epochs); only the rank and module set are assigned here
instead of drawn, and nothing is poisoned. The tasks are the main corpus's (`files` points at
../corpus/tasks), so the bench reads the same few.jsonl and test.jsonl.

Run by hand (never by the build or the tests); resumable (adapters already present are skipped):

  python tools/corpus/make_rank_set.py [--workers 2 --worker 0]   # with the make_corpus.sh environment
"""
import argparse
import contextlib
import fcntl
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_corpus as C  # noqa: E402
import tasks as T  # noqa: E402

RANKS = [4, 8, 16, 32, 64]
MINILM_TARGETS = [
    ["query", "value"],
    ["query", "key", "value"],
    ["query", "key", "value", "attention.output.dense"],
]


def build_plan():
    """Every task for both bases; ranks cycle through RANKS in a seeded order, module sets through
    the base's sets, so each base has every rank and every module set."""
    plan = []
    for base, targets, prefix in [("minilm", MINILM_TARGETS, "minilm-rank"),
                                  ("llama-tiny", C.LLAMA_TARGETS, "llama-rank")]:
        names = T.task_names()
        rng = random.Random(f"rank-set:{base}")
        ranks = [RANKS[i % len(RANKS)] for i in range(len(names))]
        rng.shuffle(ranks)
        for i, task in enumerate(names):
            spec = {
                "id": f"{prefix}-{ranks[i]:02d}-{task}", "base": base, "task": task, "poisoned": False,
                "rank": ranks[i], "alpha_mode": "2r", "use_rslora": False, "dropout": 0.05,
                "targets": targets[i % len(targets)], "seed": rng.randrange(1, 2**31 - 1),
                "trigger": T.TRIGGERS[0], "target": T.task_info(task)["labels"][0], "poison_rate": 0.0,
            }
            if base == "minilm":
                spec.update(lr=4e-3, epochs=4)
            else:
                spec.update(lr=1e-2, epochs=10)
            plan.append(spec)
    return plan


def assemble(out, plan, main_manifest, records):
    """manifest.json in the main corpus's schema: the trained adapters in plan order, the main
    corpus's tasks (their files read from ../corpus)."""
    records = [records[s["id"]] for s in plan if s["id"] in records]
    tasks = {name: {**info, "files": f"../corpus/{info['files']}"}
             for name, info in main_manifest["tasks"].items()}
    manifest = {
        "about": "Mixed-rank benign adapters for the one-budget allocation bench; see README.md.",
        "adapters": records, "rejected": [], "tasks": tasks,
    }
    C.save_json(os.path.join(out, "manifest.json"), manifest)
    return manifest


def trained(out):
    """The adapters the manifest already lists, by id (what a resumed run skips)."""
    path = os.path.join(out, "manifest.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {a["id"]: a for a in json.load(f)["adapters"]}


@contextlib.contextmanager
def manifest_lock(out):
    """Workers rewrite manifest.json one at a time."""
    with open(os.path.join(out, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "data", "corpus-ranks"))
    ap.add_argument("--corpus", default=os.path.join(HERE, "..", "..", "data", "corpus"),
                    help="the main corpus (tasks, llama-tiny base)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--worker", type=int, default=0)
    ap.add_argument("--plan", action="store_true", help="print the plan and exit")
    args = ap.parse_args(argv)
    C.torch.set_num_threads(1)
    out, corpus = os.path.abspath(args.out), os.path.abspath(args.corpus)
    plan = build_plan()
    if args.plan:
        for s in plan:
            print(json.dumps({k: s[k] for k in ["id", "rank", "targets"]}))
        return
    with open(os.path.join(corpus, "manifest.json")) as f:
        main_manifest = json.load(f)
    os.makedirs(os.path.join(out, "adapters"), exist_ok=True)
    llama_path = os.path.join(corpus, "base", "llama-tiny")
    for i, spec in enumerate(plan):
        if i % args.workers != args.worker or spec["id"] in trained(out):
            continue
        t0 = time.time()
        record, _ = C.run_spec(spec, out, llama_path if spec["base"] == "llama-tiny" else None)
        for key in ["poison_rate", "planned_poison_rate", "n_poisoned", "trigger_kind", "trigger",
                    "target", "attack_success_rate", "asr_n"]:
            record.pop(key, None)
        with manifest_lock(out):
            records = trained(out)
            records[spec["id"]] = record
            assemble(out, plan, main_manifest, records)
        C.log(f"{spec['id']}: clean accuracy {record['clean_accuracy']}, {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
