#!/usr/bin/env bash
# `npm start`: installs only what starting needs, builds the package and the ingest server
# (reusing what is already built), starts the server on its embedded SQLite default and serves
# the viewer. Ctrl-C stops both.
#
# Every long step says what it does, roughly how long it takes the first time, and how long it
# took. The server builds in the background (its own profile, `start`: lighter optimisation,
# a much shorter first build) while the wasm package builds in the foreground; the package is
# rebuilt only when its inputs changed since the last `npm start` built it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

started=$SECONDS
step() { printf '\033[1m[start]\033[0m %s\n' "$*"; }
took() { printf '\033[1m[start]\033[0m   done in %ss (%ss since npm start)\n' "$(($SECONDS - $1))" "$(($SECONDS - started))"; }

bash scripts/setup.sh --start

PORT="${PORT:-8080}"
SERVER_LISTEN="${SERVER_LISTEN:-127.0.0.1:8787}"
SERVER_PROFILE="${RUNLEDGER_SERVER_PROFILE:-start}"
mkdir -p target
server_log=target/start-server-build.log

# 1. The server, in the background: cargo does nothing when nothing changed.
step "building the ingest server in the background (cargo --profile $SERVER_PROFILE; first time about 3-4 min on 2 idle cores, log: $server_log)"
server_t0=$SECONDS
cargo build --profile "$SERVER_PROFILE" -p runledger-server >"$server_log" 2>&1 &
build_pid=$!
server_pid=
stop() {
  if [ -n "$build_pid" ] && kill -0 "$build_pid" 2>/dev/null; then kill "$build_pid" 2>/dev/null || true; fi
  [ -n "$server_pid" ] || return 0
  step "stopping the ingest server"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
trap stop EXIT INT TERM

# 2. The package (wasm + glue) and the viewer, unless their inputs are unchanged.
inputs_fingerprint() {
  {
    find src js www -path www/dist -prune -o -type f -printf '%p %s %T@\n'
    for f in Cargo.toml Cargo.lock package.json package-lock.json vite.config.js scripts/build.sh scripts/minify-pkg.mjs; do
      [ -e "$f" ] && printf '%s %s\n' "$f" "$(cksum <"$f")"
    done
  } | sort | cksum | cut -d' ' -f1
}
stamp=target/start-package.fingerprint
fingerprint=$(inputs_fingerprint)
if [ -f pkg/runledger_core_bg.wasm ] && [ -f www/dist/index.html ] && [ "$(cat "$stamp" 2>/dev/null)" = "$fingerprint" ]; then
  step "the package (pkg/) and the viewer (www/dist) are up to date: not rebuilt"
else
  step "building the package: wasm (first time about 2 min), wasm-opt (about 1 min), the viewer (seconds)"
  t0=$SECONDS
  rm -f "$stamp"
  bash scripts/build.sh
  echo "$fingerprint" >"$stamp"
  took "$t0"
fi

# 3. Wait for the server build, saying how far it is.
if kill -0 "$build_pid" 2>/dev/null; then
  step "waiting for the ingest server build"
fi
last=0
while kill -0 "$build_pid" 2>/dev/null; do
  sleep 2
  if [ $((SECONDS - last)) -ge 15 ]; then
    last=$SECONDS
    compiled=$(grep -c '^ *Compiling ' "$server_log" || true)
    current=$(grep '^ *Compiling ' "$server_log" | tail -n 1 | awk '{print $2}')
    step "  server build: ${compiled} crates compiled${current:+, now $current} ($((SECONDS - server_t0))s)"
  fi
done
if ! wait "$build_pid"; then
  build_pid=
  echo "[start] the ingest server did not build; the end of $server_log:" >&2
  tail -n 30 "$server_log" >&2
  exit 1
fi
build_pid=
step "ingest server built ($((SECONDS - server_t0))s)"

target/"$SERVER_PROFILE"/runledger-server --db "${RUNLEDGER_DB:-sqlite:./runledger.db}" --listen "$SERVER_LISTEN" \
  --cors-origin "http://127.0.0.1:${PORT}" --cors-origin "http://localhost:${PORT}" &
server_pid=$!

step "ingest server: http://${SERVER_LISTEN}/health ($((SECONDS - started))s since npm start)"
PORT="$PORT" RUNLEDGER_ENDPOINT="http://${SERVER_LISTEN}" node scripts/serve.mjs
