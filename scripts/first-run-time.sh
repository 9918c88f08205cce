#!/usr/bin/env bash
# Measures the first run as a new user meets it: a fresh clone of this repository's HEAD into a
# temporary folder, `npm start` there, and the seconds until the viewer URL and the server's
# /health answer (polled every 0.5 s, at most 30 minutes). Prints both, then stops everything
# and removes the clone. Run it on an otherwise idle machine: the figure is wall time.
#   bash scripts/first-run-time.sh            # ports 18080 (viewer) and 18787 (server)
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
viewer_port=${PORT:-18080}
server_listen=${SERVER_LISTEN:-127.0.0.1:18787}
dir=$(mktemp -d /tmp/runledger-first-run.XXXX)
log="$dir/npm-start.log"
git clone -q "$repo" "$dir/rl"
cd "$dir/rl"
start=$(date +%s.%N)
PORT="$viewer_port" SERVER_LISTEN="$server_listen" setsid npm start >"$log" 2>&1 &
pid=$!
cleanup() {
  kill -- -"$pid" 2>/dev/null
  sleep 1
  kill -9 -- -"$pid" 2>/dev/null
  cd / && rm -rf "$dir"
}
trap cleanup EXIT
elapsed() { echo "$(date +%s.%N) - $start" | bc; }
viewer="" health=""
for _ in $(seq 1 3600); do
  if [ -z "$viewer" ] && curl -sf -o /dev/null "http://127.0.0.1:${viewer_port}/"; then
    viewer=$(elapsed); echo "viewer answered after ${viewer%.*} s"
  fi
  if [ -z "$health" ] && curl -sf -o /dev/null "http://${server_listen}/health"; then
    health=$(elapsed); echo "server /health answered after ${health%.*} s"
  fi
  [ -n "$viewer" ] && [ -n "$health" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "npm start stopped early; the end of its log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  sleep 0.5
done
grep '\[start\]' "$log" | sed 's/\x1b\[[0-9;]*m//g'
[ -n "$viewer" ] && [ -n "$health" ]
