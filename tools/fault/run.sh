#!/usr/bin/env bash
# Fault injection: SIGKILLs a real adapterd at random moments of install, remove, budget.set and
# recluster, restarts it and checks the invariants after every restart; in some rounds damages the
# state directory instead (catalog deleted while running, with or without a SIGKILL right after; a
# bit flipped in a stored object; the state directory mounted read-only); then fills a small file
# system under it until three installs have failed (disk full). Needs root for the mounts (without
# it the read-only and disk-full parts are skipped).
#
#   tools/fault/run.sh [--rounds N] [--release] [--no-build] [--bin-dir DIR] [--seed S]
#                      [--max-delay SECONDS] [--storage-faults P] [--install-plan P] [--no-disk-full]
#                      [--keep] [--verbose]
#
#   --rounds N       kill/restart rounds (default 200; CI runs 20)
#   --release        use (and build) the release binaries instead of debug
#   --no-build       use the binaries already built
#   --bin-dir DIR    directory holding adapterd (overrides --release)
#   --seed S         reproduce a run (the seed is printed)
#   --max-delay S    longest time from the start of operations to the kill (default 1.5)
#   --storage-faults P  share of rounds that damage the state directory instead (default 0.12; 0: none)
#   --storage-fault F   only this one (repeatable): "catalog deleted (noticed)", "catalog deleted (then
#                       SIGKILL)", "bit flip", "read-only state dir"
#   --install-plan P the daemon's install-plan: auto (default), full, or place (installs place their
#                    task and the plan of every task runs in the background, where kills land too)
#   --no-disk-full   skip the disk-full part
#
# Prints the rounds survived, the violations (each as a VIOLATION: line), what was acknowledged and
# what the kills interrupted; exits 1 when any invariant was violated. See docs/SECURITY.md and README.
set -euo pipefail
cd "$(dirname "$0")/../.."

CONFIG=debug
BUILD=1
BIN_DIR=""
PASS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --release) CONFIG=release; shift ;;
        --no-build) BUILD=0; shift ;;
        --bin-dir) BIN_DIR="$2"; shift 2 ;;
        --rounds|--seed|--max-delay|--storage-faults|--storage-fault|--install-plan) PASS+=("$1" "$2"); shift 2 ;;
        --no-disk-full|--keep|--verbose) PASS+=("$1"); shift ;;
        -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$BIN_DIR" ]]; then
    if [[ $BUILD -eq 1 ]]; then
        swift build -c "$CONFIG" --product adapterd 2>&1 | grep -E "error|Compiling|Build complete" || true
    fi
    BIN_DIR="$(swift build -c "$CONFIG" --show-bin-path)"
fi
exec python3 tools/fault/fault.py --bin-dir "$BIN_DIR" --corpus "${ADAPTERD_CORPUS:-data/corpus}" "${PASS[@]}"
