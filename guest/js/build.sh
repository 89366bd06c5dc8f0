#!/usr/bin/env bash
# Builds a JavaScript plugin into a component of the `hookline:plugin/plugin` world with
# componentize-qjs (QuickJS; npm). Usage: guest/js/build.sh PLUGIN.js OUT.wasm
#
# The toolchain: `npm install` in guest/js (package.json pins it), or any componentize-qjs
# on PATH, or HOOKLINE_COMPONENTIZE_QJS=/path/to/componentize-qjs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[ $# -eq 2 ] || { echo "usage: $0 PLUGIN.js OUT.wasm" >&2; exit 2; }
tool="${HOOKLINE_COMPONENTIZE_QJS:-}"
if [ -z "$tool" ]; then
  if [ -x "$here/node_modules/.bin/componentize-qjs" ]; then
    tool="$here/node_modules/.bin/componentize-qjs"
  elif command -v componentize-qjs >/dev/null; then
    tool="$(command -v componentize-qjs)"
  else
    echo "$0: componentize-qjs not found: run \`npm install\` in $here" >&2
    exit 127
  fi
fi
# --sync: plain synchronous exports (the host calls `transform` like a function).
# --module-root: the repository, so a plugin can import ../../../guest/js/hookline.js.
"$tool" --sync --wit "$root/guest/wit" --world plugin --module-root "$root" --js "$1" -o "$2" >/dev/null
