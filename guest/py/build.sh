#!/usr/bin/env bash
# Builds a Python plugin into a component of the `hookline:plugin/plugin` world with
# componentize-py (CPython; PyPI). Usage: guest/py/build.sh PLUGIN_DIR MODULE OUT.wasm
# (MODULE, a module in PLUGIN_DIR, defines `class WitWorld(hookline_plugin.Plugin)`).
#
# The toolchain: `pip install componentize-py==0.25.1` (componentize-py on PATH), or
# HOOKLINE_COMPONENTIZE_PY=/path/to/componentize-py; .ci/run keeps a venv in
# $HOME/.cache/hookline-toolchains/py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[ $# -eq 3 ] || { echo "usage: $0 PLUGIN_DIR MODULE OUT.wasm" >&2; exit 2; }
tool="${HOOKLINE_COMPONENTIZE_PY:-}"
if [ -z "$tool" ]; then
  if command -v componentize-py >/dev/null; then
    tool="$(command -v componentize-py)"
  elif [ -x "$HOME/.cache/hookline-toolchains/py/bin/componentize-py" ]; then
    tool="$HOME/.cache/hookline-toolchains/py/bin/componentize-py"
  else
    echo "$0: componentize-py not found: pip install componentize-py==0.25.1" >&2
    exit 127
  fi
fi
"$tool" -d "$root/guest/wit" -w plugin componentize -p "$here" -p "$1" "$2" -o "$3" >/dev/null
