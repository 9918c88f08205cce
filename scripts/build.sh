#!/usr/bin/env bash
# Builds pkg/: two wasm files from one crate, the ES module glue of each, the browser and Node
# entries and the TypeScript types; then the viewer in www/dist.
#
# - runledger_core*: the browser build (`--no-default-features`): no Node file store.
# - runledger_node*: the Node build (default features): the same core plus the file store.
#
# No wasm-opt: measured on this crate, `wasm-opt -Oz` (and -Os, -O2) makes the gzipped wasm
# 40+ KB *larger* than the rustc output with its name and producers sections removed (see
# docs/benchmarks.md, "Browser bundle"); gzip -9 size is what a page downloads.
#
# RUNLEDGER_BUILD=start (what `npm start` uses): only the browser build; the viewer does not
# load the Node one. (A lighter profile, opt-level 1 / no LTO / 16 codegen units, was measured
# and cost more CPU on a fresh clone: 157 s against the release profile's 141 s user+sys.)
# pkg/ then has no Node build; `npm test`/`npm run build` rebuild it whole.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
mode="${RUNLEDGER_BUILD:-full}"
case "$mode" in
  full) profile=release ;;
  start) profile=release ;;
  *) echo "[build] RUNLEDGER_BUILD must be full or start; got '$mode'" >&2; exit 2 ;;
esac
wasm=${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/$profile/runledger.wasm

# build_wasm OUT_NAME [cargo flags…]
build_wasm() {
  local out=$1
  shift
  cargo build --profile "$profile" --target wasm32-unknown-unknown --lib --quiet "$@"
  wasm-bindgen --target web --out-dir pkg --out-name "$out" \
    --remove-name-section --remove-producers-section "$wasm"
}

rm -rf pkg && mkdir -p pkg
echo "[build] compiling the core to wasm32 ($profile): the browser build"
build_wasm runledger_core --no-default-features
if [ "$mode" = full ]; then
  echo "[build] compiling the core to wasm32 (release): the Node build (with the file store)"
  build_wasm runledger_node
  rm -f pkg/runledger_node.d.ts pkg/runledger_node_bg.wasm.d.ts
fi

cp js/api.js js/browser.js js/node.js js/node-file.js js/values.js js/index.d.ts pkg/
mkdir -p pkg/capture && cp js/capture/*.js pkg/capture/
rm -f pkg/.gitignore
raw=$(wc -c < pkg/runledger_core_bg.wasm)
gz=$(gzip -9 -c pkg/runledger_core_bg.wasm | wc -c)
echo "[build] the viewer (www/ with Vite) into www/dist"
node_modules/.bin/vite build
if [ "$mode" = full ]; then
  echo "[build] pkg/ ready: browser runledger_core_bg.wasm ${raw} bytes (${gz} gzipped)," \
    "Node runledger_node_bg.wasm $(wc -c < pkg/runledger_node_bg.wasm) bytes"
else
  echo "[build] pkg/ ready for npm start (browser build only): runledger_core_bg.wasm ${raw} bytes (${gz} gzipped)"
fi
