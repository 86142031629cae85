#!/usr/bin/env bash
# The example company's KPI dashboard: builds Tablero into the same target folder, with the
# same features, as ./scripts/test.sh (so the README's two commands share one build instead of
# compiling Apache DataFusion twice) and runs `tablero demo` with the arguments given
# (e.g. --addr 127.0.0.1:8081, --today 2026-10-15).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tablero-target}"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is needed: install Rust from https://rustup.rs" >&2
  exit 1
fi
cargo build --workspace --all-targets --locked
exec "$CARGO_TARGET_DIR/debug/tablero" demo "$@"
