#!/usr/bin/env bash
# The example catalog over the same generated rows, computed three ways in one run: the
# embedded engine over Parquet, PostgreSQL pushdown (the invoices in a table of a server this
# script starts), and an Apache Ballista cluster of one scheduler and two executors on this
# machine. Prints seconds and invoice rows per second for each, and checks that the three
# give the same values.
#
#   scripts/scale-out-bench.sh [INVOICE_ROWS]      # default 10000000; a release build
#
# TABLERO_BIN names a binary to use instead of building target/release/tablero.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-10000000}"
if [ -z "${TABLERO_BIN:-}" ]; then
  cargo build --release --locked --bin tablero
  TABLERO_BIN="${CARGO_TARGET_DIR:-target}/release/tablero"
fi
bin="$(realpath "$TABLERO_BIN")"
work="$(mktemp -d)"
nodes=()
cleanup() {
  for pid in "${nodes[@]}"; do kill "$pid" 2>/dev/null || true; done
  postgres_stop
  rm -rf "$work"
}
source scripts/postgres.sh
trap cleanup EXIT
python3 -c "import duckdb" >/dev/null 2>&1 || python3 -m pip install -q duckdb

echo "generating the example with $rows invoice rows…"
"$bin" bench --rows "$rows" --runs 1 --today 2026-10-15 --keep "$work/embedded" >/dev/null
request=(compute --grain month --from 2023-11 --to 2026-10 --as-of 2026-10-15 --format csv)
timed() { # NAME WORKSPACE → prints seconds, writes $work/NAME.csv
  local start end
  start=$(date +%s.%N)
  "$bin" -w "$2" "${request[@]}" >"$work/$1.csv"
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.2f}')"
}

# PostgreSQL: the invoices in a table, the other sources still files.
cp -r "$work/embedded" "$work/postgres"
python3 - "$work" <<'PY'
import duckdb, glob, sys
work = sys.argv[1]
# Parquet from a million invoice rows on, CSV below.
parquet = glob.glob(f"{work}/embedded/data/facturas*.parquet")
source = f"read_parquet('{work}/embedded/data/facturas*.parquet')" if parquet else f"read_csv_auto('{work}/embedded/data/facturas.csv')"
duckdb.sql(f"COPY (SELECT id, cliente_id, linea_servicio, tipo, monto_neto, emitida FROM {source}) TO '{work}/facturas.csv' (HEADER)")
PY
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
psql=("$pg_bin/psql" "$TABLERO_TEST_POSTGRES" -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE TABLE facturas (id bigint, cliente_id bigint, linea_servicio text, tipo text, monto_neto double precision, emitida date)"
"${psql[@]}" -c "\\copy facturas FROM '$work/facturas.csv' CSV HEADER"
"${psql[@]}" -c "VACUUM ANALYZE facturas"
sed -i 's|^file: data/facturas.*|connection: bench\ntable: facturas|' "$work/postgres/sources/facturas.yaml"
printf '\n[connections.bench]\nurl = "%s"\ntls = "disable"\n' "$TABLERO_TEST_POSTGRES" >>"$work/postgres/tablero.toml"

# Ballista: one scheduler, two executors, this binary.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sched=$(free_port)
"$bin" cluster scheduler --bind "127.0.0.1:$sched" >"$work/scheduler.log" 2>&1 & nodes+=($!)
sleep 1
for n in 1 2; do
  mkdir -p "$work/executor$n"
  "$bin" cluster executor --scheduler "127.0.0.1:$sched" --bind "127.0.0.1:$(free_port)" \
    --grpc-port "$(free_port)" --work-dir "$work/executor$n" >"$work/executor$n.log" 2>&1 & nodes+=($!)
done
sleep 3
cp -r "$work/embedded" "$work/cluster"
sed -i "1i engine = \"ballista://127.0.0.1:$sched\"" "$work/cluster/tablero.toml"
"$bin" -w "$work/cluster" "${request[@]}" >/dev/null   # CSV sources copied to Parquet once

embedded=$(timed embedded "$work/embedded")
"${psql[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
postgres=$(timed postgres "$work/postgres")
cluster=$(timed cluster "$work/cluster")
echo "PostgreSQL's slowest statements (seconds, calls, rows, statement):"
"${psql[@]}" -At -F ' | ' -c "SELECT round((total_exec_time / 1000)::numeric, 2), calls, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 160) FROM pg_stat_statements WHERE query LIKE 'SELECT idx%' ORDER BY total_exec_time DESC LIMIT 8"

python3 - "$work" "$rows" "$embedded" "$postgres" "$cluster" <<'PY'
import csv, math, sys
work, rows = sys.argv[1], int(sys.argv[2])
times = dict(zip(["embedded (Parquet)", "PostgreSQL pushdown", "Ballista, 2 executors"], map(float, sys.argv[3:6])))
def read(name):
    with open(f"{work}/{name}.csv") as f:
        return list(csv.reader(f))
def same_cell(x, y):
    if x == y:
        return True
    try:
        return math.isclose(float(x), float(y), rel_tol=1e-9)
    except ValueError:
        return False
base = read("embedded")
for other in ["postgres", "cluster"]:
    theirs = read(other)
    same = len(base) == len(theirs) and all(
        len(a) == len(b) and all(same_cell(x, y) for x, y in zip(a, b))
        for a, b in zip(base, theirs))
    print(f"values {other}: {'identical' if same else 'DIFFER'} to the embedded engine's ({len(base) - 1} rows)")
print(f"{'way':24} {'seconds':>8} {'invoice rows/s':>15}")
for way, seconds in times.items():
    print(f"{way:24} {seconds:8.2f} {rows / seconds:15,.0f}")
PY
