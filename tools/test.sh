#!/usr/bin/env bash
# The test command: installs what the build needs, then runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
swift build --build-tests
# Serial: some suites run CPU-bound work that would starve in-process servers of the shared pool.
swift test --skip-build --no-parallel "$@"
# Then the short fuzz, fault-injection and load runs (only for the whole suite, not a --filter run).
if [[ $# -eq 0 && "${ADAPTERD_SKIP_RELIABILITY:-0}" != 1 ]]; then
    bash tools/reliability-short.sh
fi
