#!/usr/bin/env bash
# The main job: on a fresh machine, set up, build, and run adapterd on a temporary state directory and
# socket (no root needed): install more corpus adapters than the byte budget holds (adapterd clusters
# the tasks and serves merged adapters under the budget), show a poisoned one refused with its reason,
# route every task, show the served set, a dry-run re-cluster at a larger budget and an export, stop.
#
#   bash tools/demo.sh            # everything
#   ADAPTERD_DEMO_SKIP_BUILD=1 bash tools/demo.sh   # reuse .build/release
#   ADAPTERD_DETECTOR_MODEL=FILE    screen with this model instead of the one built into adapterd
#   ADAPTERD_CORPUS=DIR             corpus directory (default data/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "${ADAPTERD_DEMO_SKIP_BUILD:-0}" != 1 ]; then
  say "set-up: system libraries and a release build"
  bash tools/setup.sh
  swift build -c release --product adapterd
  swift build -c release --product adapterctl
fi
BIN=${ADAPTERD_BIN_DIR:-$(swift build -c release --show-bin-path)}
ADAPTERD="$BIN/adapterd"
ADAPTERCTL="$BIN/adapterctl"

WORK=$(mktemp -d /tmp/adapterd-demo-XXXXXX)
SOCKET="$WORK/adapterd.sock"
STATE="$WORK/state"
export ADAPTERD_SOCKET="$SOCKET"
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

MODEL_ARGS=()
if [ -n "${ADAPTERD_DETECTOR_MODEL:-}" ]; then MODEL_ARGS=(--detector-model "$ADAPTERD_DETECTOR_MODEL"); fi

# Choose adapters: benign ones of different tasks and one poisoned one, from the corpus manifest.
CORPUS="${ADAPTERD_CORPUS:-$ROOT/data/corpus}"
if [ -f "$CORPUS/manifest.json" ]; then
  # Benign adapters of one base-model profile (MiniLM, LoRA on query/key/value/attention.output.dense),
  # one per task: only adapters of one profile are ever merged together.
  mapfile -t BENIGN < <(python3 - "$CORPUS" <<'PY'
import json, os, sys
root = sys.argv[1]
manifest = json.load(open(os.path.join(root, "manifest.json")))
seen = set()
for a in manifest["adapters"]:
    if a["poisoned"] or a["task"] in seen or a.get("base_model") != "minilm":
        continue
    path = os.path.join(root, a.get("path", "adapters/" + a["id"]))
    if not os.path.exists(os.path.join(path, "adapter_model.safetensors")):
        continue
    config = json.load(open(os.path.join(path, "adapter_config.json")))
    if sorted(config.get("target_modules") or []) != ["attention.output.dense", "key", "query", "value"]:
        continue
    seen.add(a["task"])
    size = os.path.getsize(os.path.join(path, "adapter_model.safetensors")) + os.path.getsize(os.path.join(path, "adapter_config.json"))
    print(a["task"] + " " + path + " " + os.path.join(root, "tasks", a["task"], "few.jsonl") + " " + str(size))
PY
)
  mapfile -t POISONED < <(python3 - "$CORPUS" <<'PY'
import json, os, sys
root = sys.argv[1]
manifest = json.load(open(os.path.join(root, "manifest.json")))
for a in manifest["adapters"]:
    path = os.path.join(root, a.get("path", "adapters/" + a["id"]))
    if a["poisoned"] and os.path.exists(os.path.join(path, "adapter_model.safetensors")):
        print(a["task"] + " " + path + " " + os.path.join(root, "tasks", a["task"], "few.jsonl")
              + " " + a.get("trigger_kind", "?") + " " + str(a.get("attack_success_rate", "?")))
PY
)
else
  echo "(no corpus at $CORPUS: using the small test fixtures, which the detector has not seen)"
  FIX="$ROOT/Tests/AdapterCoreTests/Fixtures/peft"
  printf '{"text":"an example","label":"yes"}\n' > "$WORK/examples.jsonl"
  BENIGN=("fixture-a $FIX/llama_gqa_f16 $WORK/examples.jsonl 17592" "fixture-b $FIX/llama_gqa_task_b $WORK/examples.jsonl 17591")
  POISONED=("fixture-c $FIX/llama_gqa_task_c $WORK/examples.jsonl ? ?")
fi

# The base model the corpus's MiniLM adapters were trained on (tools/setup.sh fetched it): with it,
# adapterd records what each install's examples feed the model and scores merges on that
# (evaluator = auto → label-probability on a model this small); without it, in weight space.
BASE_MODEL=""
if [ -d "$CORPUS" ]; then
  for dir in "${ADAPTERD_MINILM_DIR:-}" /usr/share/adapterd/models/all-MiniLM-L6-v2 "$HOME/.local/share/adapterd/models/all-MiniLM-L6-v2"; do
    if [ -n "$dir" ] && [ -f "$dir/config.json" ]; then BASE_MODEL="$dir"; break; fi
  done
fi
if [ -n "$BASE_MODEL" ]; then MODEL_ARGS+=(--base-model "$BASE_MODEL"); fi

# The budget: 1/8 of what storing every chosen adapter takes (the setting of the D2C paper), so the
# tasks cannot all be served by their own adapters, nor each alone at rank 1: adapterd has to merge.
# (With more room it serves tasks alone at lower ranks where that keeps more: see the dry run below.)
TOTAL=0
for line in "${BENIGN[@]}"; do read -r _ _ _ size <<<"$line"; TOTAL=$((TOTAL + size)); done
BUDGET=$((TOTAL / 8))

say "start adapterd (state $STATE, socket $SOCKET, budget $BUDGET bytes: 1/8 of the $TOTAL bytes of all ${#BENIGN[@]} adapters)"
"$ADAPTERD" --socket "$SOCKET" --state-dir "$STATE" --budget "$BUDGET" "${MODEL_ARGS[@]}" 2>"$WORK/adapterd.log" &
DAEMON_PID=$!
for _ in $(seq 1 300); do
  "$ADAPTERCTL" status >/dev/null 2>&1 && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/adapterd.log"; exit 1; }
  sleep 0.1
done
"$ADAPTERCTL" status

say "install ${#BENIGN[@]} adapters with their few examples: once they exceed the budget, each install re-clusters"
for line in "${BENIGN[@]}"; do
  read -r task dir examples _ <<<"$line"
  echo "\$ adapterctl install $(basename "$dir") --task $task --examples tasks/$task/few.jsonl"
  "$ADAPTERCTL" install "$dir" --task "$task" --examples "$examples" | grep -E "^installed|generation|budget" || echo "(exit status $?)"
done

say "screen the corpus's ${#POISONED[@]} poisoned adapters offline, as the daemon screens them"
# Honest numbers first (docs/DETECTOR.md): from the weights alone the detector is weak; with the base
# model, candidate triggers read from each adapter's weights are run through the model with its task's
# examples (behavioural screening), which finds rare-token triggers and names them. The demo then
# installs the candidate screening is surest about.
SCAN_MODEL=()
if [ -n "${ADAPTERD_DETECTOR_MODEL:-}" ]; then SCAN_MODEL=(--model "$ADAPTERD_DETECTOR_MODEL"); fi
POISON_DIRS=()
: > "$WORK/poisoned.jsonl"
for line in "${POISONED[@]}"; do
  read -r _ dir examples _ <<<"$line"
  POISON_DIRS+=("$dir")
  printf '{"adapter": "%s", "examples": "%s"}\n' "$dir" "$examples" >> "$WORK/poisoned.jsonl"
done
if [ -n "$BASE_MODEL" ]; then
  echo "\$ adapterctl scan --manifest <${#POISON_DIRS[@]} poisoned adapters with their examples> --base-model $BASE_MODEL --json"
  "$ADAPTERCTL" scan --manifest "$WORK/poisoned.jsonl" --base-model "$BASE_MODEL" "${SCAN_MODEL[@]}" --json \
    > "$WORK/scan.jsonl" 2>"$WORK/scan.err" || true
else
  echo "\$ adapterctl scan <${#POISON_DIRS[@]} poisoned adapters> --json"
  "$ADAPTERCTL" scan "${POISON_DIRS[@]}" "${SCAN_MODEL[@]}" --json > "$WORK/scan.jsonl" 2>"$WORK/scan.err" || true
fi
ORDERED=()
mapfile -t ORDERED < <(python3 - "$WORK/scan.jsonl" "${POISONED[@]}" <<'PY'
import json, sys
verdicts = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        row = json.loads(line)
        verdicts[row["path"].rstrip("/")] = row
flagged = sum(1 for r in verdicts.values() if r.get("verdict") == "poisoned")
by_behaviour = sum(1 for r in verdicts.values() if (r.get("behaviour") or {}).get("score", 0) >= (r.get("behaviour") or {}).get("threshold", 2))
if any(r.get("behaviour") for r in verdicts.values()):
    sys.stderr.write("flagged %d of %d poisoned adapters, %d of them by behaviour (measured held out: docs/DETECTOR.md)\n"
                     % (flagged, len(verdicts), by_behaviour))
else:
    sys.stderr.write("flagged %d of %d poisoned adapters as poisoned; the model was trained on this corpus, held out it does no better than chance (docs/DETECTOR.md)\n"
                     % (flagged, len(verdicts)))
lines = sys.argv[2:]
def score(line):
    row = verdicts.get(line.split()[1].rstrip("/"), {})
    behaviour = (row.get("behaviour") or {}).get("score")
    weights = row.get("score") if isinstance(row.get("score"), (int, float)) else -1.0
    return (behaviour if isinstance(behaviour, (int, float)) else -1.0, weights)
for line in sorted(lines, key=score, reverse=True):   # surest first
    print(line)
PY
)
[ "${#ORDERED[@]}" -gt 0 ] || ORDERED=("${POISONED[@]}")

say "install the poisoned adapter the detector is surest about: screening refuses it and says why"
REFUSED=0
for line in "${ORDERED[@]}"; do
  read -r task dir examples kind asr <<<"$line"
  echo "\$ adapterctl install $(basename "$dir") --task untrusted-$task --examples tasks/$task/few.jsonl   # trigger: $kind, attack success $asr"
  if "$ADAPTERCTL" install "$dir" --task "untrusted-$task" --examples "$examples"; then
    echo "(accepted: the detector missed this one; removing it)"
    "$ADAPTERCTL" remove "untrusted-$task"
  else
    REFUSED=1
  fi
  break
done
[ "$REFUSED" = 1 ] || echo "(no poisoned adapter was refused)"

say "quarantine"
"$ADAPTERCTL" quarantine

say "status: the served set under the budget (clusters, members, retained quality and its evaluator)"
"$ADAPTERCTL" status
if [ -n "$BASE_MODEL" ]; then
  echo "(retained quality here is label-probability's: the probability the base model with the adapter"
  echo " serving a task gives its ten examples' right labels, as a share of what the task's own adapter"
  echo " gives. How it tracks accuracy measured on held-out data: docs/QUALITY.md)"
else
  echo "(retained quality here is the weight-space proxy: the share of each task's update its adapter keeps;"
  echo " no base model was found, so the examples were not used. How it tracks measured accuracy: docs/QUALITY.md)"
fi

say "route every task to the adapter that serves it"
for line in "${BENIGN[@]}"; do
  read -r task _ <<<"$line"
  "$ADAPTERCTL" route --task "$task" | head -n 1 || echo "(no route for $task)"
done
FIRST_TASK=$(echo "${BENIGN[0]}" | cut -d' ' -f1)
echo "\$ adapterctl route --task $FIRST_TASK"
"$ADAPTERCTL" route --task "$FIRST_TASK" || true
if [ -f "$CORPUS/tasks/$FIRST_TASK/test.jsonl" ]; then
  TEXT=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["text"])' "$CORPUS/tasks/$FIRST_TASK/test.jsonl")
  echo "\$ adapterctl route --text \"$TEXT\"   # a held-out example of $FIRST_TASK"
  "$ADAPTERCTL" route --text "$TEXT" || true
  echo "\$ adapterctl status | grep 'text route'   # which embedder answered, and why"
  "$ADAPTERCTL" status | grep 'text route' || true
  echo "(text-embedder = auto: MiniLM, whose model tools/setup.sh fetched, else the built-in hashing embedder."
  echo " Held out on the corpus, top-1 task / top-1 cluster: hashing 0.55 / 0.93, MiniLM 0.79 / 0.96; docs/QUALITY.md)"
fi

say "what three times the budget would buy (dry run: nothing changes)"
"$ADAPTERCTL" recluster --dry-run --budget $((BUDGET * 3)) || true

say "export the cluster serving $FIRST_TASK as a PEFT directory"
"$ADAPTERCTL" export --task "$FIRST_TASK" "$WORK/export" && ls -l "$WORK/export"

say "metrics (Prometheus text; series that are still zero and histogram buckets left out)"
"$ADAPTERCTL" metrics | grep -vE '^#|_bucket' | grep -vE ' 0(\.0)?$' || true

say "stop the daemon (SIGTERM: finishes requests in progress)"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" && echo "adapterd exited cleanly"
DAEMON_PID=""
echo "daemon log:"; sed 's/^/  /' "$WORK/adapterd.log" | tail -n 20
