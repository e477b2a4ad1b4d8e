#!/usr/bin/env bash
# Builds adapterd's libFuzzer targets and runs each for a fixed number of executions.
#
#   tools/fuzz/run.sh [--runs N] [--max-time SECONDS] [--target NAME]... [--parallel] [--no-build] [--ci]
#
#   --runs N         executions per target (default 200000)
#   --max-time S     stop a target after S seconds even if N is not reached (default 600)
#   --target NAME    only this target (repeatable): FuzzSafeTensors FuzzPEFTConfig FuzzPEFTLoader
#                    FuzzExamples FuzzProtocol
#   --parallel       run the selected targets at the same time instead of one after another
#   --no-build       use the binaries already in .build-fuzz
#   --ci             the short version: --runs 20000 --max-time 300
#
# Seeds: tools/fuzz/seeds/<target>/ (read only); the growing corpus: .build-fuzz/corpus/<target>/;
# dictionaries: tools/fuzz/dicts/<target>.dict. A crashing input is kept as
# tools/fuzz/crashes/<target>/crash-<sha1> (or leak-/timeout-/oom-) and the script exits 1.
# Logs: .build-fuzz/logs/<target>.log. See docs/FUZZING.md.
set -uo pipefail
cd "$(dirname "$0")/../.."

ALL_TARGETS=(FuzzSafeTensors FuzzPEFTConfig FuzzPEFTLoader FuzzExamples FuzzProtocol)
RUNS=200000
MAX_TIME=600
BUILD=1
PARALLEL=0
TARGETS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --max-time) MAX_TIME="$2"; shift 2 ;;
        --target) TARGETS+=("$2"); shift 2 ;;
        --parallel) PARALLEL=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --ci) RUNS=20000; MAX_TIME=300; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "run.sh: no fuzz target '$t'" >&2; exit 2; }
done

SCRATCH=.build-fuzz
# Debug builds: with Swift 6.3.1 a `-c release` build of these targets runs without libFuzzer's
# coverage counters ("no interesting inputs were found... Is the code instrumented for coverage?"),
# i.e. it would fuzz blind.
config_of() { echo debug; }
if [[ $BUILD -eq 1 ]]; then
    for t in "${TARGETS[@]}"; do
        echo "building $t ($(config_of "$t"); sanitizers: fuzzer, address)"
        # --sanitize fuzzer makes SwiftPM keep `main` unrenamed so libFuzzer's main links;
        # FUZZING drops the replay @main of the normal build. SwiftPM hands swiftc the sanitizers as
        # two flags (`-sanitize=fuzzer -sanitize=address`), and with Swift 6.3.1 the last -sanitize=
        # wins: the Swift code got either no coverage counters (libFuzzer: "no interesting inputs
        # were found") or no ASan. The combined flag, passed after SwiftPM's, gives both.
        swift build -c "$(config_of "$t")" --scratch-path "$SCRATCH" --product "$t" \
            --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address \
            -Xswiftc -DFUZZING -Xswiftc -parse-as-library 2>&1 \
            | grep -v "Cannot export local symbol" | grep -E "error|warning: .*\.swift|Compiling Fuzz|complete" || true
        [[ -x "$SCRATCH/$(config_of "$t")/$t" ]] || { echo "run.sh: building $t failed" >&2; exit 1; }
    done
fi

mkdir -p "$SCRATCH/logs"
run_target() {
    local t="$1"
    local corpus="$SCRATCH/corpus/$t" crashes="tools/fuzz/crashes/$t" log="$SCRATCH/logs/$t.log"
    local dict=() start end
    mkdir -p "$corpus" "$crashes"
    [[ -f "tools/fuzz/dicts/$t.dict" ]] && dict=(-dict="tools/fuzz/dicts/$t.dict")
    start=$(date +%s)
    # Leak checking is off (per input and at exit): globals initialised lazily (Swift's `let` at top
    # level, runtime metadata) are never freed, which LeakSanitizer reports as leaks.
    ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" "$SCRATCH/$(config_of "$t")/$t" -runs="$RUNS" -max_total_time="$MAX_TIME" -timeout=30 -rss_limit_mb=2048 \
        -max_len=65536 -detect_leaks=0 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$crashes/" "$corpus" "tools/fuzz/seeds/$t" >"$log" 2>&1
    echo $? >"$SCRATCH/logs/$t.status"
    end=$(date +%s)
    echo $((end - start)) >"$SCRATCH/logs/$t.seconds"
}

if [[ $PARALLEL -eq 1 ]]; then
    for t in "${TARGETS[@]}"; do run_target "$t" & done
    wait
else
    for t in "${TARGETS[@]}"; do echo "fuzzing $t"; run_target "$t"; done
fi

failed=0
printf '%-16s %12s %8s %9s %9s %s\n' target executions crashes seconds exec/s status
for t in "${TARGETS[@]}"; do
    log="$SCRATCH/logs/$t.log"
    status=$(cat "$SCRATCH/logs/$t.status")
    seconds=$(cat "$SCRATCH/logs/$t.seconds")
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    [[ -z "$execs" ]] && execs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' | tail -1)
    [[ -z "$execs" ]] && execs='?'
    crashes=$(find "tools/fuzz/crashes/$t" -type f 2>/dev/null | wc -l)
    rate='-'
    [[ "$execs" =~ ^[0-9]+$ && $seconds -gt 0 ]] && rate=$((execs / seconds))
    note=ok
    if ! grep -q 'INFO: Loaded [0-9]* modules' "$log"; then
        failed=1
        note="FAILED (the binary has no coverage counters: libFuzzer would fuzz blind; log $log)"
    elif grep -q 'no interesting inputs were found' "$log" || ! grep -q ' cov: [0-9]' "$log"; then
        failed=1
        note="FAILED (no input reached new coverage: the target's code is not instrumented; log $log)"
    elif [[ $status -ne 0 || $crashes -gt 0 ]]; then
        failed=1
        note="FAILED (exit $status; inputs in tools/fuzz/crashes/$t, log $log)"
    fi
    printf '%-16s %12s %8s %9s %9s %s\n' "$t" "$execs" "$crashes" "$seconds" "$rate" "$note"
done
exit $failed
