#!/usr/bin/env python3
"""Ingest throughput and query time of the store, next to DuckDB, on one generated CSV.

    scripts/bench-store.py [--rows 10000000] [--tablero target/release/tablero]

Writes a workspace with a store source and a Parquet source of the same columns, generates a
CSV of N survey answers (deterministic), then times in the same run:
  1. `tablero ingest` of the CSV into the store source (one Delta commit),
  2. DuckDB (Python package) loading the same CSV into a table (`CREATE TABLE … AS read_csv`),
  3. `tablero compute` of a monthly KPI over the store table and over the same rows as Parquet
     (written by DuckDB), three runs each, the median reported.
Needs `pip install duckdb`.
"""
import argparse, os, random, statistics, subprocess, sys, tempfile, time

SOURCE = """name: {name}
{data}
time: respondida
columns:
  id:         {{ type: integer }}
  respondida: {{ type: timestamp }}
  dia:        {{ type: date }}
  nota:       {{ type: number }}
  cliente:    {{ type: string }}
  recomienda: {{ type: boolean }}
dimensions: [cliente]
measures:
  respuestas:  {{ agg: count }}
  promotores:  {{ agg: count, filter: "nota >= 9" }}
  detractores: {{ agg: count, filter: "nota <= 6" }}
"""

KPIS = """- id: nps_{name}
  name: NPS {name}
  owner: Customer Service
  unit: number
  direction: up
  grain: month
  formula: 100 * ({name}.promotores - {name}.detractores) / {name}.respuestas
"""


def write_csv(path, rows):
    rng = random.Random(23)
    clients = ["Banco Sur", "Retail Norte", "Minera Andes", "Salud Central", "Energía Austral"]
    with open(path, "w") as f:
        f.write("id,respondida,dia,nota,cliente,recomienda\n")
        chunk = []
        for i in range(rows):
            y = 2024 + (i * 3) // rows
            m = rng.randint(1, 12)
            d = rng.randint(1, 28)
            h = rng.randint(0, 23)
            n = rng.randint(0, 10)
            chunk.append(f"{i},{y}-{m:02d}-{d:02d} {h:02d}:{i % 60:02d}:00,{y}-{m:02d}-{d:02d},{n},{clients[i % 5]},{'true' if n >= 9 else 'false'}\n")
            if len(chunk) == 100_000:
                f.writelines(chunk)
                chunk = []
        f.writelines(chunk)


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return elapsed, out.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--tablero", default="target/release/tablero")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    import duckdb

    root = args.dir or tempfile.mkdtemp(prefix="tablero-bench-store-")
    for sub in ["sources", "kpis", "data"]:
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    with open(os.path.join(root, "tablero.toml"), "w") as f:
        f.write('name = "bench"\nlocale = "es"\ntimezone = "America/Santiago"\ncurrency = "CLP"\n')
    with open(os.path.join(root, "sources", "almacen.yaml"), "w") as f:
        f.write(SOURCE.format(name="almacen", data="store: true"))
    with open(os.path.join(root, "sources", "archivo.yaml"), "w") as f:
        f.write(SOURCE.format(name="archivo", data="file: data/respuestas.parquet"))
    with open(os.path.join(root, "kpis", "nps.yaml"), "w") as f:
        f.write(KPIS.format(name="almacen") + KPIS.format(name="archivo"))
    csv = os.path.join(root, "respuestas.csv")
    if not os.path.exists(csv):
        t = time.perf_counter()
        write_csv(csv, args.rows)
        print(f"generated in {time.perf_counter() - t:.1f} s")
    size = os.path.getsize(csv)
    print(f"csv: {args.rows} rows, {size / 1e6:.0f} MB")

    ingest, out = timed([args.tablero, "-w", root, "ingest", "almacen", csv])
    print(f"tablero ingest: {ingest:.2f} s = {args.rows / ingest:,.0f} rows/s  ({out.strip()})")

    con = duckdb.connect(os.path.join(root, "duck.db"))
    t = time.perf_counter()
    con.execute(f"CREATE TABLE respuestas AS SELECT * FROM read_csv('{csv}', header=true)")
    duck = time.perf_counter() - t
    print(f"duckdb read_csv into a table: {duck:.2f} s = {args.rows / duck:,.0f} rows/s")
    print(f"ratio tablero/duckdb: {ingest / duck:.2f}")
    con.execute(f"COPY respuestas TO '{os.path.join(root, 'data', 'respuestas.parquet')}' (FORMAT parquet)")
    con.close()

    for kpi in ["nps_almacen", "nps_archivo"]:
        runs = [timed([args.tablero, "-w", root, "compute", kpi, "--from", "2024-01", "--to", "2026-12", "--as-of", "2027-01-01", "--format", "csv"]) for _ in range(3)]
        print(f"compute {kpi} (36 months): median {statistics.median(r[0] for r in runs):.2f} s over 3 runs")
    a = runs[0][1]
    store_out = timed([args.tablero, "-w", root, "compute", "nps_almacen", "--from", "2024-01", "--to", "2026-12", "--as-of", "2027-01-01", "--format", "csv"])[1]
    same = [l.split(",")[2:] for l in store_out.splitlines()[1:]] == [l.split(",")[2:] for l in a.splitlines()[1:]]
    print(f"store and Parquet give the same values: {same}")
    print(f"workspace: {root}")


if __name__ == "__main__":
    main()
