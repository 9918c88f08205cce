#!/usr/bin/env bash
# Everything `npm test` runs: lint, native tests, browser tests, the package in Node.
set -euo pipefail
cd "$(dirname "$0")/.."
# The part of the set-up cargo needs first; npm packages and .venv-interop follow in the
# background (below).
bash scripts/setup.sh --system
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER=/usr/bin/chromedriver
# Test files are named (tests/<suite>/*.test.mjs, expanded by the shell), not given as a
# folder: newer Node versions read `node --test <folder>` differently.
# Each stage header says how long the run (setup included) has taken so far, so a slow CI run shows where.
stage() { echo "[test] $* (at $SECONDS s)"; }

# Background jobs, for work that shares nothing with the stages running meanwhile: `background
# NAME COMMAND...` starts one in its own process group (setsid) with its output in a log;
# `await_job NAME` waits for it, prints its log and fails the run if it failed. A run that fails
# earlier stops every job still running (and its children: cargo's rustc) on its way out.
declare -A job_pid=() job_log=()
background() {
  local name=$1
  shift
  job_log[$name]=$(mktemp)
  setsid -w bash -c 'start=$SECONDS; "$@"; rc=$?; echo "[test] $0 took $((SECONDS - start)) s (exit $rc)"; exit $rc' \
    "$name" "$@" >"${job_log[$name]}" 2>&1 &
  job_pid[$name]=$!
}
await_job() {
  local name=$1 rc=0
  [ -n "${job_pid[$name]:-}" ] || return 0
  stage "waiting for the background job: $name"
  wait "${job_pid[$name]}" || rc=$?
  unset "job_pid[$name]"
  cat "${job_log[$name]}"
  if [ "$rc" -ne 0 ]; then
    echo "[test] the background job '$name' failed (exit $rc); its log is above" >&2
    exit 1
  fi
}
stop_jobs() {
  local name
  for name in "${!job_pid[@]}"; do
    kill -- -"${job_pid[$name]}" 2>/dev/null || kill "${job_pid[$name]}" 2>/dev/null || true
  done
  for name in "${!job_log[@]}"; do rm -f "${job_log[$name]}"; done
}
trap stop_jobs EXIT

stage "npm packages and .venv-interop (scripts/setup.sh --packages): in the background until the package stage"
background packages bash scripts/setup.sh --packages

# The server's production build (`--profile server`) shares no compiled crate with the other
# builds (its own profile directory, so its own cargo lock too): it runs in the background from
# here, on the cores the next stages leave idle (the wasm builds' single-threaded LTO, tests
# waiting on Chromium), and every suite that runs the server takes this one binary.
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
server_bin="$target_dir/server/runledger-server"
stage "the ingest server binary (cargo build --profile server): in the background until the bench smoke run"
background server-build cargo build --profile server -p runledger-server --quiet
wait_for_server() {
  await_job server-build
  if [ ! -x "$server_bin" ]; then
    echo "[test] the server build left no $server_bin" >&2
    exit 1
  fi
  # engines.mjs (Node suites) and clients/python/tests/server.py read it; the bench takes it as --server-bin.
  export RUNLEDGER_SERVER_BIN="$server_bin"
}

stage "cargo fmt and clippy"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p runledger --target wasm32-unknown-unknown --all-targets --quiet -- -D warnings
cargo clippy -p runledger --target wasm32-unknown-unknown --no-default-features --lib --quiet -- -D warnings

stage "native tests (model, lifecycle, validation, redaction, truncation, pagination, memory store)"
cargo test --workspace --quiet

stage "browser tests: real IndexedDB in headless Chromium"
# A per-test ceiling for a slow machine (the default is 20 s; the version-4 upgrade test moves
# 1,200 records): a hang still fails, a slow CI runner does not.
WASM_BINDGEN_TEST_TIMEOUT=180 cargo test -p runledger --target wasm32-unknown-unknown --test browser

stage "the npm package: TypeScript types, benchmark smoke run, Node and Chromium"
await_job packages
bash scripts/build.sh
node_modules/.bin/tsc -p tests/types/tsconfig.json
wait_for_server
node bench/run.mjs --quick --server-bin "$server_bin"
node --test tests/node/*.test.mjs

stage "the ingest server binary over HTTP, on SQLite and on a throwaway PostgreSQL"
wait_for_server
node --test tests/server/*.test.mjs

stage "the public types against the package as it runs; every README js/ts block type-checked under strict and run"
node --test tests/types/*.test.mjs

stage "the Python client (clients/python, standard library only) against the real server binary"
python3 -m unittest discover -s clients/python/tests -v
stage "interop: OTLP and OpenLineage against the official OpenTelemetry and OpenLineage libraries"
node --test tests/interop/*.test.mjs

stage "sync end to end: Chromium and Node against the real server"
node --test tests/sync/*.test.mjs

stage "the viewer (www/dist) in Chromium against the real server; screenshots in test-results/"
node --test tests/viewer/*.test.mjs
stage "all passed"
