#!/usr/bin/env bash
# Installs adapterd: adapterd and adapterctl in PREFIX/bin, and the files they read at start-up (the
# default detector models) in PREFIX/share/adapterd, where an installed binary looks for them (beside
# its bin directory; a binary that cannot find them refuses to start and says where it looked);
# adapterctl's shell completions and both manual pages under PREFIX/share (tools/install-cli-extras.sh), the
# all-MiniLM-L6-v2 model in PREFIX/share/adapterd/models (tools/get-minilm.sh; skipped with a warning offline).
# With --systemd, also the units, the sysusers.d and tmpfiles.d entries, the default configuration
# (kept if present) and the protocol document the units name; the units expect PREFIX=/usr.
#
#   tools/install.sh [--prefix /usr] [--destdir DIR] [--systemd]
#
# Builds adapterd and adapterctl in release first, unless ADAPTERD_BIN_DIR names a directory that
# holds them (with the adapterd_AdapterCore.resources bundle SwiftPM builds beside them).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr
destdir=""
systemd=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --destdir) destdir="$2"; shift 2 ;;
    --systemd) systemd=1; shift ;;
    *) echo "usage: tools/install.sh [--prefix /usr] [--destdir DIR] [--systemd]" >&2; exit 2 ;;
  esac
done

if [[ -n "${ADAPTERD_BIN_DIR:-}" ]]; then
  bin="$ADAPTERD_BIN_DIR"
else
  # The extras and the MiniLM model go under $root below, not the build machine's /usr.
  ADAPTERD_NO_CLI_EXTRAS=1 ADAPTERD_NO_MINILM=1 bash tools/setup.sh
  swift build -c release --product adapterd
  swift build -c release --product adapterctl
  bin="$(swift build -c release --show-bin-path)"
fi
resources="$bin/adapterd_AdapterCore.resources"
for file in "$bin/adapterd" "$bin/adapterctl" "$resources/default-detector-weights-only.json"; do
  [[ -f "$file" ]] || { echo "tools/install.sh: $file is missing; build first" >&2; exit 1; }
done

root="$destdir$prefix"
install -d "$root/bin" "$root/share/adapterd"
install -m 0755 "$bin/adapterd" "$bin/adapterctl" "$root/bin/"
install -m 0644 "$resources"/default-detector-*.json "$root/share/adapterd/"
echo "installed adapterd and adapterctl in $root/bin, the detector models in $root/share/adapterd"
bash tools/install-cli-extras.sh --root "$root"   # completions and man pages under $root/share
bash tools/get-minilm.sh "$root/share/adapterd/models/all-MiniLM-L6-v2"   # text-embedder = auto finds it there

if [[ $systemd -eq 1 ]]; then
  install -d "$root/lib/systemd/system" "$root/lib/sysusers.d" "$root/lib/tmpfiles.d" \
             "$root/share/doc/adapterd" "$destdir/etc/adapterd"
  install -m 0644 systemd/adapterd.service systemd/adapterd.socket "$root/lib/systemd/system/"
  install -m 0644 systemd/adapterd.sysusers.conf "$root/lib/sysusers.d/adapterd.conf"
  install -m 0644 systemd/adapterd.tmpfiles.conf "$root/lib/tmpfiles.d/adapterd.conf"
  install -m 0644 docs/PROTOCOL.md "$root/share/doc/adapterd/"
  if [[ ! -e "$destdir/etc/adapterd/adapterd.conf" ]]; then
    install -m 0644 etc/adapterd.conf "$destdir/etc/adapterd/adapterd.conf"
  fi
  echo "installed the systemd units, sysusers.d/tmpfiles.d entries and $destdir/etc/adapterd/adapterd.conf"
  if [[ -z "$destdir" ]]; then
    echo "then: systemd-sysusers; systemd-tmpfiles --create; systemctl daemon-reload; systemctl enable --now adapterd.socket"
  fi
fi
