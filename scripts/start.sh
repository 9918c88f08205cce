#!/usr/bin/env bash
# `npm start`: installs only what starting needs, builds the package and the ingest server
# (reusing what is already built), serves the viewer as soon as the package is built, starts
# the server on its embedded SQLite default when it is built. Ctrl-C stops both.
#
# Both builds run at once: the browser wasm only (release profile) and the server with its
# light `start` profile (Cargo.toml), which a fresh clone's first run waits for. Every
# long step says what it does, roughly how long it takes the first time, how far it is and
# how long it took. The viewer says "server starting" until the server is up. The package is
# rebuilt only when its inputs changed since the last `npm start` built it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

started=$SECONDS
step() { printf '\033[1m[start]\033[0m %s\n' "$*"; }

bash scripts/setup.sh --start

PORT="${PORT:-8080}"
SERVER_LISTEN="${SERVER_LISTEN:-127.0.0.1:8787}"
SERVER_PROFILE="${RUNLEDGER_SERVER_PROFILE:-start}"
mkdir -p target
server_log=target/start-server-build.log
package_log=target/start-package-build.log
# What the viewer says about the server: starting, up or failed (scripts/serve.mjs).
server_state=target/start-server.state
echo starting >"$server_state"

# watch PID LOG LABEL: while PID runs, every 15 s, what LOG says it is doing and for how long:
# the crates compiled so far when cargo lists them (the server build), else the step build.sh
# last announced (its cargo runs quietly, so it has no crate lines to count).
watch() {
  local pid=$1 log=$2 label=$3 t0=$SECONDS last=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ $((SECONDS - last)) -ge 15 ]; then
      last=$SECONDS
      local compiled current doing
      # `|| true`: grep finding nothing is no error here; under `set -eo pipefail` it would
      # otherwise end npm start at the first tick.
      compiled=$(grep -c '^ *Compiling ' "$log" 2>/dev/null || true)
      if [ "${compiled:-0}" -gt 0 ]; then
        current=$(grep '^ *Compiling ' "$log" | tail -n 1 | awk '{print $2}' || true)
        doing="${compiled} crates compiled${current:+, now $current}"
      else
        doing=$(grep '^\[build\] ' "$log" 2>/dev/null | tail -n 1 | sed 's/^\[build\] //' || true)
        doing=${doing:-starting}
      fi
      step "  $label: $doing ($((SECONDS - t0))s so far)"
    fi
  done
}

# 1. The server, in the background: cargo does nothing when nothing changed.
step "building the ingest server in the background (cargo --profile $SERVER_PROFILE; first time about 3 min on 2 idle cores, log: $server_log)"
server_t0=$SECONDS
cargo build --profile "$SERVER_PROFILE" -p runledger-server >"$server_log" 2>&1 &
build_pid=$!
package_pid=
server_pid=
viewer_pid=
stop() {
  for pid in "$build_pid" "$package_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  done
  if [ -n "$viewer_pid" ]; then kill "$viewer_pid" 2>/dev/null || true; wait "$viewer_pid" 2>/dev/null || true; viewer_pid=; fi
  [ -n "$server_pid" ] || return 0
  step "stopping the ingest server"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
trap stop EXIT
trap 'exit 130' INT TERM

# 2. The package (browser wasm + glue) and the viewer, unless their inputs are unchanged.
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
  step "building the package for the browser (wasm, first time about 1-2 min while the server builds too; then the viewer, seconds; log: $package_log)"
  t0=$SECONDS
  rm -f "$stamp"
  RUNLEDGER_BUILD=start bash scripts/build.sh >"$package_log" 2>&1 &
  package_pid=$!
  watch "$package_pid" "$package_log" "package build"
  if ! wait "$package_pid"; then
    package_pid=
    echo "[start] the package did not build; the end of $package_log:" >&2
    tail -n 30 "$package_log" >&2
    exit 1
  fi
  package_pid=
  echo "$fingerprint" >"$stamp"
  step "  package built in $((SECONDS - t0))s ($((SECONDS - started))s since npm start)"
fi

# 3. The viewer now: it says "server starting" until the server is up.
PORT="$PORT" RUNLEDGER_ENDPOINT="http://${SERVER_LISTEN}" RUNLEDGER_SERVER_STATE="$server_state" node scripts/serve.mjs &
viewer_pid=$!
step "viewer: http://127.0.0.1:${PORT}/ ($((SECONDS - started))s since npm start)"

# 4. Wait for the server build, saying how far it is.
if kill -0 "$build_pid" 2>/dev/null; then
  step "waiting for the ingest server build"
  watch "$build_pid" "$server_log" "server build"
fi
if ! wait "$build_pid"; then
  build_pid=
  echo failed >"$server_state"
  echo "[start] the ingest server did not build; the end of $server_log:" >&2
  tail -n 30 "$server_log" >&2
  exit 1
fi
build_pid=
step "ingest server built ($((SECONDS - server_t0))s)"

"${CARGO_TARGET_DIR:-target}/$SERVER_PROFILE/runledger-server" --db "${RUNLEDGER_DB:-sqlite:./runledger.db}" --listen "$SERVER_LISTEN" \
  --cors-origin "http://127.0.0.1:${PORT}" --cors-origin "http://localhost:${PORT}" &
server_pid=$!
for _ in $(seq 1 150); do
  if node -e "fetch('http://${SERVER_LISTEN}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
    echo up >"$server_state"
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo failed >"$server_state"
    server_pid=
    echo "[start] the ingest server stopped at start (its messages are above)" >&2
    exit 1
  fi
  sleep 0.2
done
if [ "$(cat "$server_state")" = up ]; then
  step "ingest server: http://${SERVER_LISTEN}/health ($((SECONDS - started))s since npm start)"
else
  step "the ingest server has not answered http://${SERVER_LISTEN}/health yet; the viewer keeps saying so"
fi
wait "$viewer_pid"
