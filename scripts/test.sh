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
# The example's numbers are checked against DuckDB (crates/tablero/tests/cli/example_duckdb.rs runs
# tests/example_check.py), which needs Python 3 and its DuckDB package.
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is needed: the example's numbers are checked with DuckDB's Python package" >&2
  exit 1
fi
python3 -c "import duckdb" >/dev/null 2>&1 || python3 -m pip install -q duckdb
# The alert tests deliver e-mail to a real SMTP server: Python's aiosmtpd.
python3 -c "import aiosmtpd" >/dev/null 2>&1 || python3 -m pip install -q aiosmtpd
# Scheduled reports' PDFs are read back as text by pdftotext (Debian's poppler-utils), and
# `tablero top`'s live board is driven in tmux.
if ! command -v pdftotext >/dev/null 2>&1 || ! command -v tmux >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq poppler-utils tmux >/dev/null
fi
# Exported workbooks are read back by Python's openpyxl.
python3 -c "import openpyxl" >/dev/null 2>&1 || python3 -m pip install -q openpyxl
# The state database's tests run against SQLite and a real PostgreSQL server started here.
source scripts/postgres.sh
trap postgres_stop EXIT
cargo test --workspace --all-targets --locked
# The dashboard in a real headless Chromium (installs chromium and playwright-core if missing).
./scripts/e2e.sh
