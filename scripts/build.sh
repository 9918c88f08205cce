#!/usr/bin/env bash
# Builds pkg/: the size-optimised wasm, the ES module glue, the browser and Node entries and
# the TypeScript types; then the viewer in www/dist.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

echo "[build] compiling the core to wasm32 (release)"
cargo build --release --target wasm32-unknown-unknown --lib --quiet
rm -rf pkg && mkdir -p pkg
wasm-bindgen --target web --out-dir pkg --out-name runledger_core \
  target/wasm32-unknown-unknown/release/runledger.wasm

echo "[build] optimising the wasm for size (wasm-opt from the npm package binaryen)"
# The features Rust enables by default for wasm32-unknown-unknown.
node_modules/.bin/wasm-opt -Oz \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/runledger_core_bg.wasm -o pkg/runledger_core_bg.wasm

cp js/api.js js/browser.js js/node.js js/node-file.js js/values.js js/index.d.ts pkg/
mkdir -p pkg/capture && cp js/capture/*.js pkg/capture/
rm -f pkg/.gitignore
raw=$(wc -c < pkg/runledger_core_bg.wasm)
gz=$(gzip -9 -c pkg/runledger_core_bg.wasm | wc -c)
echo "[build] the viewer (www/ with Vite) into www/dist"
node_modules/.bin/vite build
echo "[build] pkg/ ready: runledger_core_bg.wasm ${raw} bytes (${gz} gzipped)"
