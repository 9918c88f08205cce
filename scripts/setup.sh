#!/usr/bin/env bash
# Installs everything the build and the tests need, on a fresh machine or an old one.
# Idempotent: each step checks before it installs.
#   bash scripts/setup.sh           what building, starting and testing need (npm test)
#   bash scripts/setup.sh --start   only what `npm start` needs: no Chromium, PostgreSQL,
#                                   sqlite3 CLI or .venv-interop (only the tests use those)
#   bash scripts/setup.sh --system    the tests' part for cargo: the Rust target, the
#                                   wasm-bindgen CLI, Debian's packages
#   bash scripts/setup.sh --packages  the rest: npm packages and .venv-interop (npm test runs it
#                                   in the background while the cargo stages run)
set -euo pipefail
cd "$(dirname "$0")/.."

for_tests=1
system=1
packages=1
case "${1:-}" in
  --start) for_tests= ;;
  --system) packages= ;;
  --packages) system= ;;
  "") ;;
  *) echo "[setup] unknown option '$1' (expected nothing, --start, --system or --packages)" >&2; exit 2 ;;
esac

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
step() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"

if [ -n "$system" ]; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "adding the Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi

  # The CLI must be the exact version the crate pins, or the glue does not match the wasm.
  wb_version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
  if [ -z "$wb_version" ]; then
    echo "[setup] Cargo.toml must pin wasm-bindgen with '=': cannot tell which CLI to install" >&2
    exit 1
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wb_version"; then
    step "installing wasm-bindgen-cli $wb_version (about 3-6 minutes on 2 cores, once; cargo shows its progress)"
    cargo install wasm-bindgen-cli --version "$wb_version" --locked
  fi

  if [ -n "$for_tests" ]; then
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
      step "installing Debian's chromium and chromium-driver"
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    fi

    if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
      step "installing Debian's PostgreSQL 15 server binaries (the server tests start a throwaway cluster)"
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
    fi

    if ! command -v sqlite3 >/dev/null; then
      step "installing Debian's sqlite3 (the server's migration test writes an old-schema database with it)"
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
    fi
  fi
fi

if [ -n "$packages" ]; then
  if [ -L node_modules ]; then
    # A link to a shared installed copy (a worktree): `npm ci` would empty the copy every
    # other checkout uses. Never install through it; say what is stale instead.
    if [ ! -e node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      echo "[setup] node_modules is a link to $(readlink node_modules) and may not match package-lock.json; not running npm ci through a link (update the shared copy there)" >&2
    fi
  elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "installing npm packages (npm ci, about a minute)"
    npm ci --no-audit --no-fund --loglevel=error
  fi

  # The interop tests check runledger's OTLP and OpenLineage against the official Python
  # libraries (tests/interop/*.py), in a venv of their own: only the tests need it.
  interop_python=.venv-interop/bin/python
  if [ -n "$for_tests" ] && ! "$interop_python" -c 'import opentelemetry.proto, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, openlineage.client' 2>/dev/null; then
    step "creating .venv-interop (opentelemetry-proto, opentelemetry-sdk, the OTLP/HTTP exporter, openlineage-python)"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv .venv-interop
    .venv-interop/bin/pip install --quiet --disable-pip-version-check \
      opentelemetry-proto opentelemetry-sdk opentelemetry-exporter-otlp-proto-http openlineage-python
  fi
fi
