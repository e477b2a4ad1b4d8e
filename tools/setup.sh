#!/usr/bin/env bash
# Installs the system libraries adapterd builds against (Debian/Ubuntu), when any is missing.
set -euo pipefail
need=()
for pkg in libopenblas-dev liblapacke-dev libsystemd-dev libsqlite3-dev pkg-config python3; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "adapterd setup: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash "$(dirname "$0")/install-cli-extras.sh" || true   # completions and man pages; never fails the set-up
bash "$(dirname "$0")/get-minilm.sh" || true           # the default text embedder's model (sha256 checked); never fails the set-up
