#!/usr/bin/env bash
# `npm start`: installs what is missing, builds the package and the ingest server, starts the
# server on its embedded SQLite default and serves the demo page. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
export PATH="$HOME/.cargo/bin:$PATH"

PORT="${PORT:-8080}"
SERVER_LISTEN="${SERVER_LISTEN:-127.0.0.1:8787}"
echo "[start] building the ingest server (its production build: --profile server)"
cargo build --profile server --quiet -p runledger-server

target/server/runledger-server --db "${RUNLEDGER_DB:-sqlite:./runledger.db}" --listen "$SERVER_LISTEN" \
  --cors-origin "http://127.0.0.1:${PORT}" --cors-origin "http://localhost:${PORT}" &
server_pid=$!
stop() {
  [ -n "$server_pid" ] || return 0
  echo "[start] stopping the ingest server"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
trap stop EXIT INT TERM

echo "[start] ingest server: http://${SERVER_LISTEN}/health"
PORT="$PORT" RUNLEDGER_ENDPOINT="http://${SERVER_LISTEN}" node scripts/serve.mjs
