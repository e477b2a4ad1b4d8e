#!/usr/bin/env bash
# The test command: installs what the build needs, then runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
swift build --build-tests
swift test --skip-build "$@"
