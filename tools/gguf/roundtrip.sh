#!/usr/bin/env bash
# GGUF export check against an independent reader: starts adapterd on a temporary state directory,
# installs benign llama-tiny corpus adapters under a budget that forces a merge, exports the cluster
# serving the first task both as PEFT and as GGUF, and compares them with tools/gguf/check.py (which
# reads the GGUF file with the `gguf` package's GGUFReader).
#
#   bash tools/gguf/roundtrip.sh [BIN_DIR]     # BIN_DIR: where adapterd/adapterctl are (default .build/debug)
#   PYTHON=/path/to/python (one that can `import gguf`; default python3)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BIN=${1:-$ROOT/.build/debug}
PYTHON=${PYTHON:-python3}
CORPUS=$ROOT/data/corpus
BASE=$CORPUS/base/llama-tiny
WORK=$(mktemp -d /tmp/adapterd-gguf-XXXXXX)
export ADAPTERD_SOCKET="$WORK/adapterd.sock"
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Three benign llama-tiny adapters of different tasks with the same target modules (one profile).
mapfile -t CHOSEN < <("$PYTHON" - "$CORPUS" <<'PY'
import json, os, sys
root = sys.argv[1]
seen, modules = set(), None
for a in json.load(open(os.path.join(root, "manifest.json")))["adapters"]:
    if a["poisoned"] or a.get("base_model") != "llama-tiny" or a["task"] in seen:
        continue
    path = os.path.join(root, a.get("path", "adapters/" + a["id"]))
    config = json.load(open(os.path.join(path, "adapter_config.json")))
    targets = sorted(config.get("target_modules") or [])
    if modules not in (None, targets):
        continue
    modules = targets
    seen.add(a["task"])
    print(a["task"] + " " + path + " " + os.path.join(root, "tasks", a["task"], "few.jsonl"))
    if len(seen) == 3:
        break
PY
)
[ "${#CHOSEN[@]}" -ge 2 ] || { echo "gguf roundtrip: fewer than 2 llama-tiny adapters in $CORPUS" >&2; exit 1; }

"$BIN/adapterd" --socket "$ADAPTERD_SOCKET" --state-dir "$WORK/state" --budget 90000 2>"$WORK/adapterd.log" &
DAEMON_PID=$!
for _ in $(seq 1 300); do "$BIN/adapterctl" status >/dev/null 2>&1 && break; sleep 0.1; done
FIRST=""
for line in "${CHOSEN[@]}"; do
  read -r task dir examples <<<"$line"
  "$BIN/adapterctl" install "$dir" --task "$task" --examples "$examples" >/dev/null
  FIRST=${FIRST:-$task}
done
"$BIN/adapterctl" export --task "$FIRST" "$WORK/peft" | head -n 1
echo "\$ adapterctl export --task $FIRST --format gguf --base data/corpus/base/llama-tiny $WORK/adapter.gguf"
"$BIN/adapterctl" export --task "$FIRST" --format gguf --base "$BASE" "$WORK/adapter.gguf" | head -n 1
echo "\$ $PYTHON tools/gguf/check.py --peft $WORK/peft --gguf $WORK/adapter.gguf --base data/corpus/base/llama-tiny"
"$PYTHON" tools/gguf/check.py --peft "$WORK/peft" --gguf "$WORK/adapter.gguf" --base "$BASE"
