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
# Only the binary, with the features the test build unifies in from its dev-dependencies (the
# store's and the alerts' fault points, criterion's `serde/alloc`), so that every crate it
# compiles is the very one `cargo test --workspace --all-targets` uses.
cargo build -p tablero --bin tablero --locked \
  --features tablero-store/failpoints,tablero-alerts/failpoints,serde/alloc
exec "$CARGO_TARGET_DIR/debug/tablero" demo "$@"
