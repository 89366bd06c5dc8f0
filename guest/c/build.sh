#!/usr/bin/env bash
# Builds a C plugin into a component of the `hookline:plugin/plugin` world.
# Usage: guest/c/build.sh OUT.wasm SOURCE.c [MORE.c ...]
#
# Toolchain (README.md): wit-bindgen (crates.io: `cargo install wit-bindgen-cli`), Debian's
# clang-16, lld-16, wasi-libc and libclang-rt-16-dev-wasm32, and wasm-component-ld (shipped
# with Rust's wasm32-wasip2 target: `rustup target add wasm32-wasip2`). Override with
# WIT_BINDGEN, CLANG, WASM_LD, WASM_COMPONENT_LD; HOOKLINE_WIT (the WIT folder) and
# HOOKLINE_C_SDK (where hookline.h is) for a plugin outside this repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 OUT.wasm SOURCE.c [MORE.c ...]" >&2; exit 2; }
out="$1"; shift
need() { command -v "$1" >/dev/null || [ -x "$1" ] || { echo "$0: $1 not found ($2)" >&2; exit 127; }; }
wit_bindgen="${WIT_BINDGEN:-wit-bindgen}"
clang="${CLANG:-clang-16}"
wasm_ld="${WASM_LD:-$(command -v wasm-ld-16 || command -v wasm-ld || echo wasm-ld-16)}"
sysroot="$(rustc --print sysroot 2>/dev/null || true)"
host="$(rustc -vV 2>/dev/null | sed -n 's/^host: //p' || true)"
component_ld="${WASM_COMPONENT_LD:-$sysroot/lib/rustlib/$host/bin/wasm-component-ld}"
need "$wit_bindgen" "cargo install wit-bindgen-cli --version 0.63.0"
need "$clang" "apt-get install clang-16"
need "$wasm_ld" "apt-get install lld-16"
need "$component_ld" "rustup target add wasm32-wasip2"
[ -f /usr/lib/wasm32-wasi/libc.a ] || { echo "$0: wasi-libc not found (apt-get install wasi-libc)" >&2; exit 127; }
builtins="$("$clang" --target=wasm32-wasi -print-libgcc-file-name)"
[ -f "$builtins" ] || { echo "$0: $builtins not found (apt-get install libclang-rt-16-dev-wasm32)" >&2; exit 127; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
wit="${HOOKLINE_WIT:-$root/guest/wit}"
sdk="${HOOKLINE_C_SDK:-$here}"
"$wit_bindgen" c "$wit" --world plugin --out-dir "$work" >/dev/null 2>&1
objects=()
for src in "$work/plugin.c" "$@"; do
  obj="$work/$(basename "$src" .c).o"
  "$clang" --target=wasm32-wasi -O2 -Wall -Werror -I"$work" -I"$sdk" -c "$src" -o "$obj"
  objects+=("$obj")
done
# A reactor (no `main`): the host calls the exports. wasm-component-ld links with wasm-ld,
# then wraps the module and the WASI 0.1 adapter into a component.
"$component_ld" --wasm-ld-path "$wasm_ld" -m wasm32 --strip-all \
  -L/usr/lib/wasm32-wasi /usr/lib/wasm32-wasi/crt1-reactor.o --entry _initialize \
  "${objects[@]}" "$work/plugin_component_type.o" -lc "$builtins" -o "$out"
