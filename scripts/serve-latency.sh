#!/usr/bin/env bash
# How long people wait for the dashboard: `tablero serve` on the example company, loaded by
# 100 concurrent clients with wrk (Debian's package, installed if missing) — the home page and
# the values API, warm, across a minute boundary (when every answer without an as-of is
# computed again) and right after a data change. Prints each run's requests per second and
# latency percentiles.
#
#   scripts/serve-latency.sh [SECONDS_PER_RUN]      # default 20; a release build
#
# TABLERO_BIN names a binary to use instead of building target/release/tablero.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
if [ -z "${TABLERO_BIN:-}" ]; then
  cargo build --release --locked --bin tablero
  TABLERO_BIN="${CARGO_TARGET_DIR:-target}/release/tablero"
fi
bin="$(realpath "$TABLERO_BIN")"
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" init "$work/ws" --example 23people --seed 23 >/dev/null
mkfifo "$work/out"
TABLERO_LOG=tablero_server=info "$bin" -w "$work/ws" serve --addr 127.0.0.1:0 >"$work/out" 2>"$work/serve.log" &
server=$!
exec 3<"$work/out"
read -r line <&3
addr="$(sed -E 's|.*http://([^/]+)/.*|\1|' <<<"$line")"
cat <&3 >/dev/null &

home="http://$addr/"
values="http://$addr/api/v1/kpis/ventas_netas_totales/values"
# Like a browser, most runs send the cookie the first visit got (its anti-CSRF nonce); the
# runs marked "no cookie" are probes and wall screens, which send none — and must not make the
# server write anything either.
curl -fsS -c "$work/cookies" -o /dev/null "$home"
cookie="$(awk '$6 ~ /^tablero/ { print $6 "=" $7 }' "$work/cookies")"
row() { # NAME URL [no-cookie] → one table row from wrk's latency distribution
  local out
  if [ "${3:-}" = "no-cookie" ]; then
    out="$(wrk -t2 -c100 -d"${seconds}s" --latency "$2")"
  else
    out="$(wrk -t2 -c100 -d"${seconds}s" --latency -H "Cookie: $cookie" "$2")"
  fi
  awk -v name="$1" '
    /^ +50%/ { p50 = $2 } /^ +90%/ { p90 = $2 } /^ +99%/ { p99 = $2 }
    /Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad = $NF }
    END { printf "| %s | %s | %s | %s | %s | %s |\n", name, rps, p50, p90, p99, (bad == "" ? 0 : bad) }
  ' <<<"$out"
}
# Until the next minute starts plus a few seconds.
until_minute() { echo $(( 60 - $(date +%s) % 60 )); }

curl -fsS "$values" >/dev/null
echo "| run | requests/s | p50 | p90 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
row "home, warm" "$home"
row "values API, warm" "$values"
row "home, warm, no cookie" "$home" no-cookie
row "values API, warm, no cookie" "$values" no-cookie
# Start a run half a run before a minute boundary, so that it spans it.
across_minute() { # NAME URL
  local wait_before=$(( $(until_minute) - seconds / 2 ))
  [ "$wait_before" -lt 0 ] && wait_before=$(( wait_before + 60 ))
  sleep "$wait_before"
  row "$1" "$2"
}
across_minute "values API, across a minute boundary" "$values"
across_minute "home, across a minute boundary" "$home"
# A data change in the middle of a run: one more invoice line appended to the CSV.
invoices="$(ls "$work"/ws/data/*factura*.csv 2>/dev/null | head -1)"
(
  sleep $(( seconds / 2 ))
  if [ -n "$invoices" ]; then
    tail -n 1 "$invoices" >>"$invoices"
  else
    touch "$work"/ws/data/*
  fi
) &
row "values API, data changed mid-run" "$values"
(
  sleep $(( seconds / 2 ))
  touch "$work"/ws/data/*
) &
row "home, data changed mid-run" "$home"
grep -c 'workspace reloaded' "$work/serve.log" | sed 's/^/reloads during the runs: /'
# Reading writes nothing: the state database's sessions after every run.
if command -v sqlite3 >/dev/null 2>&1; then
  sqlite3 "$work/ws/data/tablero.db" 'SELECT count(*) FROM sessions' | sed 's/^/sessions stored after the runs: /'
fi
