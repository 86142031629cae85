#!/usr/bin/env bash
# End-to-end tests of the dashboard in headless Chromium: installs what they need when missing
# (scripts/needs.sh: Debian's chromium, playwright-core from npm, DuckDB's Python package),
# starts `tablero demo` on a fixed day, recomputes its KPIs with DuckDB (tests/example_check.py),
# runs e2e/*.test.mjs, stops it.
# Screenshots go to the folder printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tablero-target}"

./scripts/needs.sh

# The binary of the test build (the same command as scripts/test.sh, so nothing is built a
# second time with other features; after scripts/test.sh this only checks it is fresh).
cargo test --workspace --all-targets --locked --no-run
run="$(date -u +%Y%m%dT%H%M%SZ)"
shots="$PWD/target/e2e-screenshots/$run"
mkdir -p "$shots"
work="$(mktemp -d)"
port=$(( 20000 + RANDOM % 20000 ))
# A fixed seed and day, so the numbers on the pages can be known in advance.
today="2026-10-15"
"$CARGO_TARGET_DIR/debug/tablero" demo --seed 23 --today "$today" --dir "$work/23people" \
  --addr "127.0.0.1:$port" > "$work/demo.log" 2>&1 &
demo=$!
# The example again with accounts: a viewer limited to People Growth (the sign-in test).
tablero="$CARGO_TARGET_DIR/debug/tablero"
"$tablero" init "$work/acme" --example 23people --seed 23 --today "$today" >/dev/null
viewer_email="lucia@acme.cl"
viewer_password="viewer-password-$RANDOM$RANDOM"
echo "$viewer_password" | "$tablero" -w "$work/acme" users add "$viewer_email" --role viewer \
  --owners "People Growth" --password-stdin >/dev/null
# A survey score entered by hand (a manual source) and the Finances editor who enters it.
cat > "$work/acme/sources/encuesta_manual.yaml" <<'YAML'
name: encuesta_manual
label: Encuesta de clima (se ingresa a mano)
manual: true
time: fecha
columns:
  fecha: { type: date }
  puntaje: { type: number }
measures:
  puntaje: { agg: sum, expr: puntaje }
YAML
cat > "$work/acme/kpis/encuesta_manual.yaml" <<'YAML'
- id: puntaje_encuesta
  name: Puntaje de la encuesta
  owner: Finances
  unit: number
  decimals: 0
  direction: up
  grain: month
  formula: encuesta_manual.puntaje
YAML
editor_email="pedro@acme.cl"
editor_password="editor-password-$RANDOM$RANDOM"
echo "$editor_password" | "$tablero" -w "$work/acme" users add "$editor_email" --role editor \
  --owners "Finances" --password-stdin >/dev/null
accounts_port=$(( port + 1 ))
"$tablero" -w "$work/acme" serve --addr "127.0.0.1:$accounts_port" > "$work/accounts.log" 2>&1 &
accounts=$!
trap 'kill $demo $accounts 2>/dev/null || true; wait $demo $accounts 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
  if curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $demo 2>/dev/null; then cat "$work/demo.log" >&2; exit 1; fi
  sleep 0.5
done
for _ in $(seq 1 120); do
  if curl -fs "http://127.0.0.1:$accounts_port/api/v1/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $accounts 2>/dev/null; then cat "$work/accounts.log" >&2; exit 1; fi
  sleep 0.5
done
# What the pages must show, computed independently from the demo's files by DuckDB.
python3 tests/example_check.py "$work/23people" --from 2025-09 --to "${today:0:7}" --as-of "$today" \
  > "$work/expected.jsonl"
TABLERO_URL="http://127.0.0.1:$port" TABLERO_SCREENSHOTS="$shots" TABLERO_AS_OF="$today" \
  TABLERO_EXPECTED="$work/expected.jsonl" TABLERO_ACCOUNTS_URL="http://127.0.0.1:$accounts_port" \
  TABLERO_VIEWER_EMAIL="$viewer_email" TABLERO_VIEWER_PASSWORD="$viewer_password" \
  TABLERO_EDITOR_EMAIL="$editor_email" TABLERO_EDITOR_PASSWORD="$editor_password" node --test e2e/

# The OpenAPI document passes a real OpenAPI 3.1 validator.
curl -fs "http://127.0.0.1:$port/api/v1/openapi.json" > "$work/openapi.json"
python3 -m openapi_spec_validator "$work/openapi.json"

# SIGTERM stops the server gracefully (exit status 0).
kill -TERM $accounts; wait $accounts || true
kill -TERM $demo
if wait $demo; then echo "graceful shutdown: ok"; else echo "tablero demo did not exit cleanly on SIGTERM" >&2; exit 1; fi
echo "screenshots: $shots"
