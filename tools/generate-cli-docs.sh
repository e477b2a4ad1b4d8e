#!/usr/bin/env bash
# Writes adapterctl's shell completions (etc/completions/) and the manual pages of adapterctl and
# adapterd (docs/man/) from the commands' help texts, with the built binaries. Run it after changing
# a command, an option or a help text; the AdapterCLITests suite fails while these files are stale.
#
#   tools/generate-cli-docs.sh        (builds adapterd and adapterctl in debug first, unless
#                                      ADAPTERD_BIN_DIR names a directory that holds them)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${ADAPTERD_BIN_DIR:-}" ]]; then
  bin="$ADAPTERD_BIN_DIR"
else
  swift build --product adapterd >&2
  swift build --product adapterctl >&2
  bin="$(swift build --show-bin-path)"
fi
mkdir -p etc/completions docs/man
"$bin/adapterctl" completion bash > etc/completions/adapterctl.bash
"$bin/adapterctl" completion zsh > etc/completions/_adapterctl
"$bin/adapterctl" completion fish > etc/completions/adapterctl.fish
"$bin/adapterctl" manual > docs/man/adapterctl.1
"$bin/adapterd" --experimental-dump-help | "$bin/adapterctl" manual --dump - > docs/man/adapterd.1
echo "wrote etc/completions/{adapterctl.bash,_adapterctl,adapterctl.fish} and docs/man/{adapterctl,adapterd}.1"
