#!/usr/bin/env bash
# The test command: installs what the build needs, then runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests need no MiniLM model (those that use it run only with $ADAPTERD_MINILM_DIR): skip its download.
ADAPTERD_NO_MINILM=1 bash tools/setup.sh
# Built and run optimised, as the daemon ships: a fault once showed only in a release build (batched
# evaluator scores at the wrong index, session 25). `-enable-testing` lets the tests reach internal
# API; its own scratch path keeps it from rebuilding the demo's .build/release (other flags).
build=(-c release -Xswiftc -enable-testing --scratch-path .build-test)
swift build "${build[@]}" --build-tests
bin="$(swift build "${build[@]}" --show-bin-path)"
# Serial: some suites run CPU-bound work that would starve in-process servers of the shared pool.
# A crash backtrace shows only the crashed thread, so it stays readable at the end of a long log.
log="$(mktemp "${TMPDIR:-/tmp}/adapterd-tests.XXXXXX")"
set +e
SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=yes,threads=crashed,registers=none,images=none}" \
    swift test "${build[@]}" --skip-build --no-parallel "$@" 2>&1 | tee "$log"
tests=${PIPESTATUS[0]}
set -e
if [[ $tests -ne 0 ]]; then
    # Repeat what failed at the very end, where a truncated CI log still shows it.
    echo
    echo "== the Swift tests failed (exit $tests); what failed:"
    grep -E '^✘|recorded an issue|Fatal error|signal code' "$log" | head -40 || true
    awk '/Program crashed/ { shown = 1 } shown && n < 40 { print; n++ }' "$log"
    echo "== the last tests that started:"
    grep -E '◇ Test .* started' "$log" | tail -5 || true
    rm -f "$log"
    exit "$tests"
fi
rm -f "$log"
# The GGUF export read back by llama.cpp's own reader (PyPI `gguf`), only where python3 has it.
if [[ $# -eq 0 ]]; then
    if python3 -c 'import gguf' 2>/dev/null; then bash tools/gguf/roundtrip.sh "$bin"
    else echo "GGUF read-back check skipped: python3 cannot import gguf (pip install gguf)"; fi
fi
# Then the short fuzz, fault-injection and load runs (only for the whole suite, not a --filter run).
if [[ $# -eq 0 && "${ADAPTERD_SKIP_RELIABILITY:-0}" != 1 ]]; then
    ADAPTERD_BIN_DIR="$bin" bash tools/reliability-short.sh
fi
