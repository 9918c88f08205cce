#!/usr/bin/env bash
# Builds pkg/: two wasm files from one crate, the ES module glue of each, the browser and Node
# entries and the TypeScript types; then the viewer in www/dist.
#
# - runledger_core*: the browser build (`--no-default-features`, `--profile browser`: built for
#   size throughout): no Node file store; its JS modules minified (scripts/minify-pkg.mjs).
# - runledger_node*: the Node build (default features, `--profile node`: release optimised for
#   speed, as the batch step runs on the caller's thread): the same core plus the
#   file store.
#
# wasm-opt runs on the browser wasm with single passes that each shrink the gzipped file
# (merging identical functions, dropping what nothing uses, a few local clean-ups), while `-Oz`
# (and -Os, -O2, --reorder-functions, --merge-similar-functions, --inlining-optimizing) make it
# 1-40 KB *larger* than the rustc output (see docs/benchmarks.md, "Browser bundle"); gzip -9
# size is what a page downloads. scripts/minify-pkg.mjs then shortens the wasm's import and
# export names and rewrites the glue to match.
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
  full|start) ;;
  *) echo "[build] RUNLEDGER_BUILD must be full or start; got '$mode'" >&2; exit 2 ;;
esac
target_dir=${CARGO_TARGET_DIR:-target}

# build_wasm OUT_NAME PROFILE [cargo flags…]: the wasm is target/wasm32-unknown-unknown/PROFILE/.
build_wasm() {
  local out=$1 profile=$2
  shift 2
  wasm=$target_dir/wasm32-unknown-unknown/$profile/runledger.wasm
  cargo build --profile "$profile" --target wasm32-unknown-unknown --lib --quiet "$@"
  # --no-typescript: the public types are js/index.d.ts, written by hand (the generated
  # ones describe the glue, internals included).
  wasm-bindgen --target web --out-dir pkg --out-name "$out" --no-typescript \
    --remove-name-section --remove-producers-section "$wasm"
}

rm -rf pkg && mkdir -p pkg
echo "[build] compiling the core to wasm32 (profile browser): the browser build"
build_wasm runledger_core browser --no-default-features
# The passes after the first two were measured one at a time on the browser wasm, each
# kept only if it shrinks the gzipped file (docs/benchmarks.md, "Browser bundle", round 3).
shrink() {
  node_modules/.bin/wasm-opt --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    --duplicate-function-elimination --remove-unused-module-elements \
    --dae-optimizing --remove-unused-brs --reorder-locals --optimize-instructions \
    --strip-target-features --rse --merge-blocks --remove-unused-names --precompute --vacuum \
    --duplicate-function-elimination --remove-unused-module-elements "$@"
}
shrink pkg/runledger_core_bg.wasm -o pkg/runledger_core_bg.wasm
if [ "$mode" = full ]; then
  # The shipped browser wasm once more with its function names: `bench/run.mjs --only bundle`
  # (and `node bench/wasm-parts.mjs`) read it to say what each part of the shipped wasm costs.
  rm -rf "$target_dir/bundle"
  wasm-bindgen --target web --out-dir "$target_dir/bundle" --out-name runledger_core_names "$wasm"
  shrink -g "$target_dir/bundle/runledger_core_names_bg.wasm" -o "$target_dir/bundle/runledger_core_names_bg.wasm"
  echo "[build] compiling the core to wasm32 (profile node: release at opt-level 3): the Node build (with the file store)"
  build_wasm runledger_node node
fi

cp js/api.js js/browser.js js/node.js js/node-file.js js/values.js js/index.d.ts pkg/
mkdir -p pkg/capture pkg/worker && cp js/capture/*.js pkg/capture/ && cp js/worker/*.js pkg/worker/
rm -f pkg/.gitignore
node scripts/minify-pkg.mjs
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
