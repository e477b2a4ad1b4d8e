#!/usr/bin/env bash
# The short versions of the reliability runs, for CI (tools/test.sh runs this after the Swift tests):
# fuzz, fault injection and load, each printing its figures. Uses the binaries in $ADAPTERD_BIN_DIR
# (tools/test.sh passes its release test build), else the debug build that `swift build --build-tests`
# made. About 2 minutes on a 2-core machine. The full runs: README,
# "Reliability".
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${ADAPTERD_BIN_DIR:-$(swift build --show-bin-path)}"
status=0
step() { echo; echo "== $1"; }

step "fuzz (short): replay every seed and kept crash input through each target (no sanitizers)"
for target in FuzzSafeTensors FuzzPEFTConfig FuzzPEFTLoader FuzzExamples FuzzProtocol; do
    inputs=(tools/fuzz/seeds/$target)
    [[ -n "$(ls -A tools/fuzz/crashes/$target 2>/dev/null)" ]] && inputs+=(tools/fuzz/crashes/$target)
    printf '%-16s ' "$target"
    "$BIN/$target" "${inputs[@]}" || { echo "fuzz: $target crashed on a kept input"; status=1; }
done
if [[ "${ADAPTERD_CI_FUZZ:-0}" == 1 ]]; then
    # The sanitizer build lives in .build-fuzz (incremental after the first, which takes several minutes).
    tools/fuzz/run.sh --parallel --runs 2000 --max-time 15 || status=1
else
    echo "fuzz: skipped the libFuzzer executions: they need a separate sanitizer build (minutes whenever"
    echo "      AdapterCore changes); ADAPTERD_CI_FUZZ=1 adds 2,000 executions per target, tools/fuzz/run.sh the full run"
fi

step "fault injection (short): 20 SIGKILL rounds and the disk-full check"
python3 tools/fault/fault.py --bin-dir "$BIN" --corpus "${ADAPTERD_CORPUS:-data/corpus}" --rounds 20 || status=1

step "fault injection (short) with install-plan = place: installs place their task, the plan of every task runs in the background, kills land in both"
python3 tools/fault/fault.py --bin-dir "$BIN" --corpus "${ADAPTERD_CORPUS:-data/corpus}" --rounds 20 --install-plan place --no-disk-full || status=1

step "load (short, small adapters, a test build: latencies are not the benchmark's figures): 50 clients × 10 requests per phase"
"$BIN/adapterd-bench" load --clients 50 --requests 10 --tasks 6 --max-adapter-bytes 20000 --goal-ms 0 --strict-errors || status=1

exit $status
