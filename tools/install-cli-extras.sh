#!/usr/bin/env bash
# Installs adapterctl's shell completions (etc/completions/) and the manual pages of adapterctl and
# adapterd (docs/man/), both generated from the commands' help texts (tools/generate-cli-docs.sh).
#
#   tools/install-cli-extras.sh                 as root: the system locations under /usr/share;
#                                               otherwise: the user's ($XDG_DATA_HOME, ~/.config/fish)
#   tools/install-cli-extras.sh --root DIR      under DIR/share (tools/install.sh: DESTDIR+PREFIX)
#
# A location that cannot be created or written is skipped with a note; this script never fails
# (tools/setup.sh must not stop for a missing shell).
#
# With ADAPTERD_NO_CLI_EXTRAS=1 and no --root it does nothing (tools/install.sh runs tools/setup.sh
# that way: it installs the files under its own --prefix/--destdir instead).
set -uo pipefail
cd "$(dirname "$0")/.."

root=""
case "${1:-}" in
  --root) root="${2:?--root needs a directory}" ;;
  "") ;;
  *) echo "usage: tools/install-cli-extras.sh [--root DIR]" >&2; exit 2 ;;
esac

if [[ -z "$root" && "${ADAPTERD_NO_CLI_EXTRAS:-}" == 1 ]]; then
  exit 0
elif [[ -n "$root" ]]; then
  bash_dir="$root/share/bash-completion/completions"
  zsh_dir="$root/share/zsh/vendor-completions"
  fish_dir="$root/share/fish/vendor_completions.d"
  man_dir="$root/share/man/man1"
elif [[ "$(id -u)" -eq 0 ]]; then
  bash_dir=/usr/share/bash-completion/completions
  zsh_dir=/usr/share/zsh/vendor-completions
  fish_dir=/usr/share/fish/vendor_completions.d
  man_dir=/usr/share/man/man1
else
  data="${XDG_DATA_HOME:-$HOME/.local/share}"
  bash_dir="${BASH_COMPLETION_USER_DIR:-$data/bash-completion}/completions"
  zsh_dir="$data/zsh/site-functions"   # add it to $fpath (before compinit) in ~/.zshrc
  fish_dir="${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions"
  man_dir="$data/man/man1"
fi

installed=()
# copy SOURCE DIRECTORY NAME: installs SOURCE as DIRECTORY/NAME (mode 0644), or says why not.
copy() {
  if [[ ! -f "$1" ]]; then
    echo "install-cli-extras: $1 is missing; skipped" >&2
  elif install -d "$2" 2>/dev/null && install -m 0644 "$1" "$2/$3" 2>/dev/null; then
    installed+=("$2/$3")
  else
    echo "install-cli-extras: cannot write $2/$3; skipped" >&2
  fi
}
copy etc/completions/adapterctl.bash "$bash_dir" adapterctl
copy etc/completions/_adapterctl "$zsh_dir" _adapterctl
copy etc/completions/adapterctl.fish "$fish_dir" adapterctl.fish
copy docs/man/adapterctl.1 "$man_dir" adapterctl.1
copy docs/man/adapterd.1 "$man_dir" adapterd.1
echo "install-cli-extras: installed ${#installed[@]} of 5 files: ${installed[*]:-none}" >&2
exit 0
