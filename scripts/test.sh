#!/usr/bin/env bash
# Runs every test of the project: unit, property, end-to-end KPI cases, the state database on
# SQLite and PostgreSQL, and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tablero-target}"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is needed: install Rust from https://rustup.rs" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is needed: the example's numbers are checked with DuckDB's Python package" >&2
  exit 1
fi
# The test build compiles while what the tests need beside Rust is installed (on a fresh
# machine the two take minutes each; one waits on the network and disks, the other on CPUs).
cargo test --workspace --all-targets --locked --no-run &
build=$!
trap 'kill $build 2>/dev/null || true' EXIT
./scripts/needs.sh
wait $build
# The state database's tests run against SQLite and a real PostgreSQL server started here.
source scripts/postgres.sh
trap postgres_stop EXIT
cargo test --workspace --all-targets --locked
# The dashboard in a real headless Chromium (installs chromium and playwright-core if missing).
./scripts/e2e.sh
