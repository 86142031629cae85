#!/usr/bin/env bash
# Installs what the tests need beside Rust, each only when it is missing: Python's DuckDB (the
# example's numbers are recomputed with it), aiosmtpd (a real SMTP server for the alerts),
# openpyxl (exported workbooks read back) and openapi-spec-validator; Debian's poppler-utils
# (report PDFs read back as text), tmux (`tablero top` driven live), postgresql (the state
# database's server) and chromium (the browser tests); the browser tests' playwright-core.
# scripts/test.sh runs it while the test build compiles, scripts/e2e.sh before it starts. One
# `apt-get update`, one install.
set -euo pipefail
cd "$(dirname "$0")/.."

missing_python=()
for module in duckdb aiosmtpd openpyxl openapi_spec_validator; do
  python3 -c "import $module" >/dev/null 2>&1 || missing_python+=("${module//_/-}")
done
if [ ${#missing_python[@]} -gt 0 ]; then
  python3 -m pip install -q "${missing_python[@]}"
fi

missing_debian=()
command -v pdftotext >/dev/null 2>&1 || missing_debian+=(poppler-utils)
command -v tmux >/dev/null 2>&1 || missing_debian+=(tmux)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing_debian+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing_debian+=(chromium fonts-dejavu-core)
if [ ${#missing_debian[@]} -gt 0 ]; then
  echo "installing ${missing_debian[*]} (Debian packages)…"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing_debian[@]}" >/dev/null
fi

if ! command -v node >/dev/null 2>&1; then
  echo "node is needed for the browser tests (Node.js 20 or later)" >&2
  exit 1
fi
# npm records what it installed in node_modules/.package-lock.json: reinstall only when the
# lockfile is newer.
if [ ! e2e/node_modules/.package-lock.json -nt e2e/package-lock.json ]; then
  (cd e2e && npm ci --no-audit --no-fund --silent)
fi
