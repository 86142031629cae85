#!/usr/bin/env python3
"""The 23people example's KPIs recomputed from its data files with DuckDB, independently of
Tablero's engine.

Every formula here is written from the product contract (SPEC.md §2–§5) and the example's
`sources/*.yaml` and `kpis/*.yaml`, never from the engine's code: rows are read from the CSV
files with their declared types, instants are assigned to periods in the workspace time zone
(`America/Santiago`, daylight saving included) with DuckDB's ICU time zones, and each KPI is
one SQL aggregation per period plus the arithmetic of its formula. Targets and statuses follow
§4, the period in progress (the one containing `--as-of`) carries `pace_target` and `forecast`
for `count` and `currency` KPIs.

Usage:

    example_check.py WORKSPACE --from 2025-10 --to 2026-10 --as-of 2026-10-15

prints one JSON object per KPI, in the shape of `tablero compute --format json`:
`{"kpi", "grain", "values": [{"period", "dims", "value", "target", "status", "partial",
"pace_target", "forecast"}]}`; with `--by`, instead, the values of two KPIs per dimension value
(`{"kpi", "by", "values": [{"period", "dims", "value"}]}`). Run by
`crates/tablero/tests/cli/example_duckdb.rs` and by `scripts/e2e.sh`; needs `pip install duckdb`.
"""

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

try:
    import duckdb
except ImportError:
    sys.exit("example_check.py needs the DuckDB Python package: python3 -m pip install duckdb")

TZ = "America/Santiago"
ZONE = ZoneInfo(TZ)

# ---------------------------------------------------------------------------------------------
# Periods (SPEC §5): months and quarters of the workspace time zone. A period's start is the
# first instant of its first local day.


def local_midnight(day):
    """The first instant of a local day (a skipped midnight begins the day at 01:00)."""
    naive = dt.datetime(day.year, day.month, day.day)
    instant = naive.replace(tzinfo=ZONE)
    # zoneinfo resolves a skipped wall time with the offset before the gap, which lands on the
    # first instant after it: the same instant the day really starts at.
    return instant.astimezone(dt.timezone.utc)


def month_label(year, month):
    return f"{year:04d}-{month:02d}"


def parse_month(label):
    year, month = label.split("-")
    return int(year), int(month)


def add_months(year, month, n):
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


class Period:
    def __init__(self, grain, label, first_day, next_first_day):
        self.grain = grain
        self.label = label
        self.first_day = first_day
        self.next_first_day = next_first_day
        self.start = local_midnight(first_day)
        self.end = local_midnight(next_first_day)

    def shift(self, n):
        """The period n periods later (earlier when negative)."""
        months = 1 if self.grain == "month" else 3
        y, m = add_months(self.first_day.year, self.first_day.month, n * months)
        return make_period(self.grain, y, m)


def make_period(grain, year, month):
    if grain == "month":
        ny, nm = add_months(year, month, 1)
        return Period(grain, month_label(year, month), dt.date(year, month, 1), dt.date(ny, nm, 1))
    first = (month - 1) // 3 * 3 + 1
    ny, nm = add_months(year, first, 3)
    label = f"{year:04d}-Q{(first - 1) // 3 + 1}"
    return Period(grain, label, dt.date(year, first, 1), dt.date(ny, nm, 1))


def periods_between(grain, first_month, last_month):
    """The periods of `grain` from the one holding `first_month` to the one holding
    `last_month`, both included."""
    y, m = parse_month(first_month)
    ly, lm = parse_month(last_month)
    out = []
    period = make_period(grain, y, m)
    last = make_period(grain, ly, lm).label
    while True:
        out.append(period)
        if period.label == last:
            return out
        period = period.shift(1)


# ---------------------------------------------------------------------------------------------
# Reading the files with their declared types (sources/*.yaml). Every column is read as text and
# cast here, so nothing depends on DuckDB's type sniffing. A timestamp with an offset (`…Z`) is
# an instant; one without, and a date, are local times of the workspace zone (SPEC §2): with the
# session time zone set to America/Santiago, casting text to TIMESTAMPTZ does exactly that.

SOURCES = {
    "facturas": ("facturas.csv", ",", {
        "id": "BIGINT", "cliente_id": "BIGINT", "linea_servicio": "VARCHAR", "tipo": "VARCHAR",
        "monto_neto": "DOUBLE", "emitida": "DATE"}),
    "gastos": ("gastos.csv", ";", {
        "id": "BIGINT", "fecha": "DATE", "cuenta": "VARCHAR", "tipo": "VARCHAR",
        "monto": "DECIMAL_COMMA"}),
    "colaboradores": ("colaboradores.csv", ",", {
        "id": "BIGINT", "departamento": "VARCHAR", "ingreso": "DATE", "salida": "DATE",
        "motivo_salida": "VARCHAR"}),
    "clientes": ("clientes.csv", ",", {
        "id": "BIGINT", "nombre": "VARCHAR", "segmento": "VARCHAR", "desde": "DATE",
        "hasta": "DATE"}),
    "leads": ("leads.csv", ",", {
        "id": "BIGINT", "canal": "VARCHAR", "creado": "TIMESTAMPTZ", "calificado": "TIMESTAMPTZ",
        "convertido": "TIMESTAMPTZ"}),
    "oportunidades": ("oportunidades.csv", ",", {
        "id": "BIGINT", "cliente_id": "BIGINT", "linea_servicio": "VARCHAR", "etapa": "VARCHAR",
        "monto": "DOUBLE", "creada": "TIMESTAMPTZ", "cerrada": "TIMESTAMPTZ"}),
    "etapas_oportunidad": ("etapas_oportunidad.csv", ",", {
        "oportunidad_id": "BIGINT", "etapa": "VARCHAR", "desde": "TIMESTAMPTZ"}),
    "tickets": ("tickets.csv", ",", {
        "id": "BIGINT", "cliente_id": "BIGINT", "canal": "VARCHAR", "creado": "TIMESTAMPTZ",
        "primera_respuesta": "TIMESTAMPTZ", "resuelto": "TIMESTAMPTZ"}),
    "encuesta_nps": ("encuesta_nps.csv", ",", {
        "id": "BIGINT", "respondida": "TIMESTAMPTZ", "puntaje": "BIGINT"}),
    "encuesta_csat": ("encuesta_csat.csv", ",", {
        "id": "BIGINT", "respondida": "TIMESTAMPTZ", "puntaje": "BIGINT"}),
    "ofertas": ("ofertas.csv", ",", {
        "candidato_id": "BIGINT", "ofrecida": "DATE", "estado": "VARCHAR", "respondida": "DATE"}),
    "postulaciones": ("postulaciones.csv", ",", {
        "id": "BIGINT", "recibida": "TIMESTAMPTZ", "cargo": "VARCHAR", "calificada": "BOOLEAN"}),
    "proyectos": ("proyectos.csv", ",", {
        "id": "BIGINT", "cliente_id": "BIGINT", "linea_servicio": "VARCHAR", "entregado": "DATE",
        "satisfaccion": "BIGINT"}),
    "seguidores": ("seguidores.csv", ",", {
        "fecha": "DATE", "red": "VARCHAR", "seguidores": "BIGINT"}),
    "ausencias": ("ausencias.csv", ",", {
        "colaborador_id": "BIGINT", "fecha": "DATE", "dias": "DOUBLE", "motivo": "VARCHAR"}),
    "jornada": ("jornada.csv", ",", {"fecha": "DATE", "programados": "BIGINT"}),
}

# Manual sources (`manual: true`, SPEC §12): their rows live in the store, a Delta Lake table
# under data/store/NAME/ (SPEC §8), read here from its transaction log and Parquet files.
STORE_SOURCES = {
    "mercado": {"trimestre": "DATE", "ventas_mercado": "DOUBLE", "fuente": "VARCHAR"},
}


def delta_files(table):
    """The Parquet files of a Delta table's newest version: every `add` of the log's commits,
    in order, minus every `remove` (a log without checkpoints, as a few commits are)."""
    log = table / "_delta_log"
    if (log / "_last_checkpoint").exists():
        sys.exit(f"{log}: checkpoints are not read by this check")
    files = {}
    for commit in sorted(log.glob("[0-9]*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line) if line.strip() else {}
            if "add" in action:
                files[action["add"]["path"]] = True
            elif "remove" in action:
                files.pop(action["remove"]["path"], None)
    return [str(table / path) for path in files]


def cast(column, kind):
    col = f'"{column}"'
    if kind == "DECIMAL_COMMA":  # `csv: { decimal: "," }`
        return f"CAST(replace({col}, ',', '.') AS DOUBLE)"
    if kind == "DATE_DMY":  # `format: "%d/%m/%Y"`
        return f"CAST(strptime({col}, '%d/%m/%Y') AS DATE)"
    if kind == "BOOLEAN":
        return f"CASE lower({col}) WHEN 'true' THEN true WHEN 'false' THEN false END"
    return f"CAST({col} AS {kind})"


def load(con, data):
    for name, (file, delimiter, columns) in SOURCES.items():
        path = str(data / file).replace("'", "''")
        parquet = (data / file).with_suffix(".parquet")
        if not (data / file).exists() and parquet.exists():
            # A large example writes its invoices as Parquet (`tablero bench`), typed already.
            select = ", ".join(f'CAST("{c}" AS {k}) AS {c}' for c, k in columns.items())
            path = str(parquet).replace("'", "''")
            con.execute(f"CREATE TABLE {name} AS SELECT {select} FROM read_parquet('{path}')")
            TIME_KINDS[name] = dict(columns)
            continue
        select = ", ".join(f"{cast(c, k)} AS {c}" for c, k in columns.items())
        con.execute(
            f"CREATE TABLE {name} AS SELECT {select} FROM read_csv('{path}', header = true, "
            f"all_varchar = true, delim = '{delimiter}', quote = '\"', nullstr = '')"
        )
        kinds = {c: k for c, k in columns.items()}
        TIME_KINDS[name] = kinds
    for name, columns in STORE_SOURCES.items():
        files = delta_files(data / "store" / name)
        if not files:
            sys.exit(f"{data / 'store' / name}: the store table has no files")
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        select = ", ".join(f'CAST("{c}" AS {k}) AS {c}' for c, k in columns.items())
        con.execute(f"CREATE TABLE {name} AS SELECT {select} FROM read_parquet([{listed}])")
        TIME_KINDS[name] = dict(columns)


TIME_KINDS = {}

# ---------------------------------------------------------------------------------------------
# Measures (SPEC §2). Each returns {period label: value} for the periods asked; a period without
# rows is 0 for count/count_distinct/sum and None (null) for avg/max/last/percentile.


class Calc:
    def __init__(self, con, as_of_end):
        self.con = con
        # `--as-of` a date means the end of that day: rows at or after this instant are ignored.
        self.as_of_end = as_of_end

    def local(self, table, column):
        kind = TIME_KINDS[table][column]
        if kind.startswith("DATE"):
            return column
        return f"({column} AT TIME ZONE '{TZ}')"

    def label(self, table, column, grain):
        local = self.local(table, column)
        if grain == "month":
            return f"strftime({local}, '%Y-%m')"
        return f"(CAST(year({local}) AS VARCHAR) || '-Q' || CAST(quarter({local}) AS VARCHAR))"

    def before_as_of(self, table, column):
        kind = TIME_KINDS[table][column]
        end = self.as_of_end
        if kind.startswith("DATE"):
            # A date is its local day's first instant.
            return f"{column} < DATE '{end.astimezone(ZONE).date().isoformat()}'"
        return f"{column} < TIMESTAMPTZ '{end.isoformat()}'"

    def grouped(self, table, time, value_sql, periods, where="TRUE", by=None, empty=None):
        """`value_sql` aggregated per period of `time` (and per `by` column)."""
        grain = periods[0].grain
        label = self.label(table, time, grain)
        group = f", CAST({by} AS VARCHAR)" if by else ""
        rows = self.con.execute(
            f"SELECT {label} AS p{group}, {value_sql} FROM {table} "
            f"WHERE {time} IS NOT NULL AND {self.before_as_of(table, time)} AND ({where}) "
            f"GROUP BY ALL"
        ).fetchall()
        wanted = {p.label for p in periods}
        if by:
            out = {}
            for p, dim, v in rows:
                if p in wanted:
                    out.setdefault(dim, {})[p] = v
            for series in out.values():
                for p in wanted:
                    series.setdefault(p, empty)
            return out
        out = {p: empty for p in wanted}
        for p, v in rows:
            if p in wanted:
                out[p] = v
        return out

    def count(self, table, time, periods, where="TRUE", by=None):
        return self.grouped(table, time, "count(*)", periods, where, by, empty=0)

    def sum(self, table, time, expr, periods, where="TRUE", by=None):
        return self.grouped(table, time, f"sum({expr})", periods, where, by, empty=0)

    def avg(self, table, time, expr, periods, where="TRUE"):
        return self.grouped(table, time, f"avg({expr})", periods, where)

    def count_distinct(self, table, time, expr, periods):
        return self.grouped(table, time, f"count(DISTINCT {expr})", periods, empty=0)

    def percentile(self, table, time, expr, p, periods):
        # "continuous percentile": linear interpolation between the closest ranks.
        return self.grouped(table, time, f"quantile_cont({expr}, {p})", periods)

    def max_per(self, table, time, expr, per, periods):
        """`max(sum(expr) per col)`: the largest group's sum in each period."""
        grain = periods[0].grain
        label = self.label(table, time, grain)
        rows = self.con.execute(
            f"SELECT p, max(s) FROM (SELECT {label} AS p, {per}, sum({expr}) AS s FROM {table} "
            f"WHERE {time} IS NOT NULL AND {self.before_as_of(table, time)} GROUP BY ALL) "
            f"GROUP BY p"
        ).fetchall()
        out = {p.label: None for p in periods}
        for p, v in rows:
            if p in out:
                out[p] = v
        return out

    def last_per(self, table, time, expr, per, periods, by=None):
        """`last` with `per`: each value of `per` contributes its own latest snapshot in the
        period; the measure is their sum (null when the period has no snapshot)."""
        grain = periods[0].grain
        label = self.label(table, time, grain)
        rows = self.con.execute(
            f"SELECT p, {per}, {expr} FROM (SELECT {label} AS p, {per}, {time}, {expr}, "
            f"max({time}) OVER (PARTITION BY {label}, {per}) AS latest FROM {table} "
            f"WHERE {time} IS NOT NULL AND {self.before_as_of(table, time)}) "
            f"WHERE {time} = latest"
        ).fetchall()
        wanted = {p.label for p in periods}
        totals = {p: None for p in wanted}
        per_value = {}
        for p, key, v in rows:
            if p not in wanted or v is None:
                continue
            totals[p] = (totals[p] or 0) + v
            per_value.setdefault(key, {p: None for p in wanted})
            series = per_value[key]
            series[p] = (series[p] or 0) + v
        return per_value if by else totals

    def active(self, table, start, end, periods, at):
        """Rows whose interval [start, end) holds the period's first instant (`start`), the
        first instant of the next period (`end`), or the mean of both counts (`average`).
        Both columns are dates here: local days, compared as such."""

        # As of `--as-of`, a row that starts later is not known yet (ignored), and an end later
        # than it has not happened yet (the row is still open). This matters only when counting
        # at the end of the period in progress.
        known = self.before_as_of(table, start)
        ended = f"({end} IS NOT NULL AND {self.before_as_of(table, end)})"

        def count_at(day):
            return self.con.execute(
                f"SELECT count(*) FROM {table} WHERE {start} IS NOT NULL AND {known} "
                f"AND {start} <= DATE '{day.isoformat()}' "
                f"AND NOT ({ended} AND {end} <= DATE '{day.isoformat()}')"
            ).fetchone()[0]

        out = {}
        for p in periods:
            first = count_at(p.first_day)
            last = count_at(p.next_first_day)
            out[p.label] = {"start": first, "end": last, "average": (first + last) / 2}[at]
        return out


def div(a, b):
    """Division with the null rules of SPEC §3: null in, null out; by zero, null."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def mul(k, a):
    return None if a is None else k * a


def sub(a, b):
    return None if a is None or b is None else a - b


def elapsed(start, end, unit):
    """`days_between`, `hours_between`, `minutes_between`: end − start in real elapsed time
    (instants), so a daylight-saving change inside the interval counts its true length."""
    return f"((epoch({end}) - epoch({start})) / {unit})"


# ---------------------------------------------------------------------------------------------
# The KPIs (kpis/*.yaml): value per period, target and thresholds (SPEC §4).


class Kpi:
    def __init__(self, id, unit, direction, grain="month", target=None, targets=None,
                 at_risk=None, target_of=None, flow=False):
        self.id = id
        self.unit = unit
        # A flow accumulates over the period (a sum or count of its rows), so a partial
        # period's value can be compared with a prorated target and projected to the period's
        # end. A stock (`last`: followers) or an average (`avg`: the average sale) cannot: half
        # a month does not hold half the followers. SPEC §4 says "count and currency KPIs";
        # read literally it would prorate those two as well — see `pace_applies`.
        self.flow = flow
        self.direction = direction
        self.grain = grain
        self.target = target
        self.targets = targets or {}
        self.at_risk = at_risk  # a number, or "95%" of the target
        self.target_of = target_of  # a function (values by label, period) -> target


def ventas_target(values, period):
    # target: "1.1 * year_ago(ventas_netas_totales)"
    return mul(1.1, values.get(period.shift(-12).label))


def seguidores_target(values, period):
    # target: "1.015 * previous(presencia_medios_digitales)"
    return mul(1.015, values.get(period.shift(-1).label))


CATALOG = [
    Kpi("tiempo_promedio_espera", "minutes", "down", target=40, at_risk=45),
    Kpi("tiempo_promedio_resolucion", "hours", "down", target=20, at_risk=22),
    Kpi("tasa_perdida_clientes", "percent", "down", target=1.5, at_risk=2.5),
    Kpi("satisfaccion_cliente_csat", "percent", "up", target=85, at_risk=80),
    Kpi("proyectos_satisfactorios", "count", "up", target=8, at_risk=6, flow=True),
    Kpi("ventas_netas_totales", "currency", "up", at_risk="95%", target_of=ventas_target,
        flow=True),
    Kpi("concentracion_ventas_cliente", "percent", "down", target=16, at_risk=19),
    Kpi("margen_ebitda", "percent", "up", target=15, at_risk=12),
    Kpi("rentabilidad_ventas", "percent", "up", target=8, at_risk=5),
    Kpi("tasa_aceptacion_candidatos", "percent", "up", target=75, at_risk=68),
    Kpi("postulaciones_calificadas", "count", "up", target=70, at_risk="85%", flow=True),
    Kpi("tasa_conversion_leads_calificados", "percent", "up", target=11, at_risk="80%"),
    Kpi("leads_calificados_generados", "count", "up", target=16, targets={"2026": 18},
        at_risk="85%", flow=True),
    Kpi("tasa_retencion_clientes", "percent", "up", target=99, at_risk=98),
    Kpi("presencia_medios_digitales", "count", "up", at_risk="99.7%",
        target_of=seguidores_target),
    Kpi("cuota_mercado_relativa", "percent", "up", grain="quarter", target=3.6, at_risk="95%"),
    Kpi("tasa_rotacion_profesionales", "percent", "down", target=1.5, at_risk=2),
    Kpi("tasa_absentismo", "percent", "down", target=3, at_risk=3.5),
    Kpi("tasa_conversion_oportunidades", "percent", "up", target=30, at_risk=25),
    Kpi("valor_promedio_venta", "currency", "up", target=38000000, at_risk="85%"),
    Kpi("oportunidades_cerradas", "count", "up", target=35, at_risk="85%", flow=True),
    # A product of KPIs is not a flow of the period (SPEC §4 prorates flows only).
    Kpi("ventas_ganadas", "currency", "up", target=399000000, at_risk="85%"),
    Kpi("ciclo_promedio_venta", "days", "down", target=44, at_risk=48),
    Kpi("satisfaccion_cliente_nps", "number", "up", target=40, at_risk=30),
    Kpi("oportunidades_calificadas", "count", "up", target=24, at_risk="85%", flow=True),
    Kpi("oportunidades_comprometidas", "count", "up", target=15, at_risk="85%", flow=True),
    Kpi("oportunidades_listas_facturar", "count", "up", target=12, at_risk="85%", flow=True),
    Kpi("oportunidades_en_facturacion", "count", "up", target=11, at_risk="85%", flow=True),
    # Written by the Rust test into its copy of the workspace (kpis/verificacion.yaml), for the
    # aggregations the catalog does not use: count_distinct, percentile, ytd, rolling.
    Kpi("verif_clientes_facturados", "count", "up", flow=True),
    Kpi("verif_espera_p90", "minutes", "down"),
    Kpi("verif_ventas_ytd", "currency", "up"),
    Kpi("verif_espera_movil_3", "minutes", "down"),
]


def values_of(kpi, c, periods):
    """{label: value} of one KPI over `periods` (all at the KPI's grain)."""
    P = periods
    k = kpi.id
    if k == "tiempo_promedio_espera":
        return c.avg("tickets", "creado", elapsed("creado", "primera_respuesta", 60), P)
    if k == "tiempo_promedio_resolucion":
        return c.avg("tickets", "resuelto", elapsed("creado", "resuelto", 3600), P)
    if k == "tasa_perdida_clientes":
        lost = c.count("clientes", "hasta", P)
        at_start = c.active("clientes", "desde", "hasta", P, "start")
        return {p: mul(100, div(lost[p], at_start[p])) for p in lost}
    if k == "satisfaccion_cliente_csat":
        happy = c.count("encuesta_csat", "respondida", P, "puntaje >= 4")
        answers = c.count("encuesta_csat", "respondida", P)
        return {p: mul(100, div(happy[p], answers[p])) for p in happy}
    if k == "proyectos_satisfactorios":
        return c.count("proyectos", "entregado", P, "satisfaccion >= 4")
    if k == "ventas_netas_totales":
        return c.sum("facturas", "emitida", "monto_neto", P)
    if k == "concentracion_ventas_cliente":
        largest = c.max_per("facturas", "emitida", "monto_neto", "cliente_id", P)
        total = c.sum("facturas", "emitida", "monto_neto", P)
        return {p: mul(100, div(largest[p], total[p])) for p in total}
    if k in ("margen_ebitda", "rentabilidad_ventas"):
        sales = c.sum("facturas", "emitida", "monto_neto", P)
        where = "tipo = 'operacional'" if k == "margen_ebitda" else "TRUE"
        costs = c.sum("gastos", "fecha", "monto", P, where)
        return {p: mul(100, div(sub(sales[p], costs[p]), sales[p])) for p in sales}
    if k == "tasa_aceptacion_candidatos":
        accepted = c.count("ofertas", "respondida", P, "estado = 'aceptada'")
        answered = c.count("ofertas", "respondida", P, "estado IN ('aceptada', 'rechazada')")
        return {p: mul(100, div(accepted[p], answered[p])) for p in accepted}
    if k == "postulaciones_calificadas":
        return c.count("postulaciones", "recibida", P, "calificada = true")
    if k == "tasa_conversion_leads_calificados":
        converted = c.count("leads", "convertido", P)
        qualified = c.count("leads", "calificado", P)
        return {p: mul(100, div(converted[p], qualified[p])) for p in converted}
    if k == "leads_calificados_generados":
        return c.count("leads", "calificado", P)
    if k == "tasa_retencion_clientes":
        at_end = c.active("clientes", "desde", "hasta", P, "end")
        new = c.count("clientes", "desde", P)
        at_start = c.active("clientes", "desde", "hasta", P, "start")
        return {p: mul(100, div(sub(at_end[p], new[p]), at_start[p])) for p in new}
    if k == "presencia_medios_digitales":
        return c.last_per("seguidores", "fecha", "seguidores", "red", P)
    if k == "cuota_mercado_relativa":
        sales = c.sum("facturas", "emitida", "monto_neto", P)
        market = c.sum("mercado", "trimestre", "ventas_mercado", P)
        return {p: mul(100, div(sales[p], market[p])) for p in sales}
    if k == "tasa_rotacion_profesionales":
        exits = c.count("colaboradores", "salida", P)
        headcount = c.active("colaboradores", "ingreso", "salida", P, "average")
        return {p: mul(100, div(exits[p], headcount[p])) for p in exits}
    if k == "tasa_absentismo":
        absent = c.sum("ausencias", "fecha", "dias", P)
        scheduled = c.sum("jornada", "fecha", "programados", P)
        return {p: mul(100, div(absent[p], scheduled[p])) for p in absent}
    if k == "tasa_conversion_oportunidades":
        won = c.count("oportunidades", "cerrada", P, "etapa = 'won'")
        closed = c.count("oportunidades", "cerrada", P, "etapa IN ('won', 'lost')")
        return {p: mul(100, div(won[p], closed[p])) for p in won}
    if k == "oportunidades_cerradas":
        return c.count("oportunidades", "cerrada", P, "etapa IN ('won', 'lost')")
    if k == "ventas_ganadas":
        # closed × (100 × won / closed) / 100 × (won amount / won) is the won amount itself,
        # computed here as that sum; null when nothing was won (the average of no rows is null)
        # or nothing closed (the conversion divides by zero).
        won = c.count("oportunidades", "cerrada", P, "etapa = 'won'")
        amount = c.sum("oportunidades", "cerrada", "monto", P, "etapa = 'won'")
        return {p: (amount[p] if won[p] else None) for p in won}
    if k == "valor_promedio_venta":
        return c.avg("oportunidades", "cerrada", "monto", P, "etapa = 'won'")
    if k == "ciclo_promedio_venta":
        days = elapsed("creada", "cerrada", 86400)
        return c.avg("oportunidades", "cerrada", days, P, "etapa = 'won'")
    if k == "satisfaccion_cliente_nps":
        promoters = c.count("encuesta_nps", "respondida", P, "puntaje >= 9")
        detractors = c.count("encuesta_nps", "respondida", P, "puntaje <= 6")
        answers = c.count("encuesta_nps", "respondida", P)
        return {p: mul(100, div(sub(promoters[p], detractors[p]), answers[p])) for p in answers}
    stages = {
        "oportunidades_calificadas": "qualified",
        "oportunidades_comprometidas": "committed",
        "oportunidades_listas_facturar": "ready_to_bill",
        "oportunidades_en_facturacion": "invoicing",
    }
    if k in stages:
        return c.count("etapas_oportunidad", "desde", P, f"etapa = '{stages[k]}'")
    if k == "verif_clientes_facturados":
        return c.count_distinct("facturas", "emitida", "cliente_id", P)
    if k == "verif_espera_p90":
        minutes = elapsed("creado", "primera_respuesta", 60)
        return c.percentile("tickets", "creado", minutes, 0.9, P)
    if k == "verif_ventas_ytd":
        # ytd(facturas.ventas_netas): from the fiscal year's start (January) to the period's end.
        monthly = c.sum("facturas", "emitida", "monto_neto", all_months(P))
        out = {}
        for p in P:
            out[p.label] = sum(
                v for label, v in monthly.items()
                if label[:4] == p.label[:4] and label <= p.label
            )
        return out
    if k == "verif_espera_movil_3":
        # rolling(tickets.espera_minutos, 3): the average over the rows of the three months
        # ending with the period, not an average of the monthly averages.
        minutes = elapsed("creado", "primera_respuesta", 60)
        out = {}
        for p in P:
            first = p.shift(-2)
            out[p.label] = c.con.execute(
                f"SELECT avg({minutes}) FROM tickets WHERE creado >= TIMESTAMPTZ "
                f"'{first.start.isoformat()}' AND creado < TIMESTAMPTZ '{p.end.isoformat()}' "
                f"AND {c.before_as_of('tickets', 'creado')}"
            ).fetchone()[0]
        return out
    raise KeyError(k)


def all_months(periods):
    """Every month from January of the first period's year to the last period."""
    first = periods[0].first_day
    last = periods[-1].first_day
    return periods_between("month", f"{first.year:04d}-01", month_label(last.year, last.month))


def pace_applies(kpi):
    """Whether the period in progress carries `pace_target` and `forecast` (SPEC §4): a count or
    currency KPI whose value is a flow of the period."""
    return kpi.unit in ("count", "currency") and kpi.flow


def target_of(kpi, values, period):
    if kpi.target_of:
        return kpi.target_of(values, period)
    # A period override by label: the period's own, or its quarter's or year's (§4).
    year = period.label[:4]
    quarter = f"{year}-Q{(period.first_day.month - 1) // 3 + 1}"
    for label in (period.label, quarter, year):
        if label in kpi.targets:
            return kpi.targets[label]
    return kpi.target


def threshold_of(kpi, target):
    if kpi.at_risk is None or target is None:
        return None
    if isinstance(kpi.at_risk, str):
        return target * float(kpi.at_risk.rstrip("%")) / 100
    return kpi.at_risk


def status_of(kpi, value, target, threshold):
    if value is None:
        return "no_data"
    if target is None:
        return "no_target"
    better = (lambda a, b: a >= b) if kpi.direction == "up" else (lambda a, b: a <= b)
    if better(value, target):
        return "on_track"
    if threshold is not None and better(value, threshold):
        return "at_risk"
    return "off_track"


def history_of(kpi, first_month, last_month):
    """The periods asked, and before them a year and a month more for year_ago and previous."""
    periods = periods_between(kpi.grain, first_month, last_month)
    return periods, [periods[0].shift(-n) for n in range(13, 0, -1)] + periods


def judged(kpi, values, periods, as_of_end, dims):
    """Each period's value with its target and status (§4), the period in progress with its pace;
    periods entirely after --as-of are left out."""
    out = []
    for p in periods:
        if p.start >= as_of_end:
            continue
        value = values[p.label]
        target = target_of(kpi, values, p)
        threshold = threshold_of(kpi, target)
        partial = p.start < as_of_end < p.end
        row = {"period": p.label, "dims": dims, "value": value, "target": target,
               "partial": partial}
        if partial and pace_applies(kpi):
            # §4: the value projected to the period's end at the pace so far, and the target
            # prorated to the elapsed share of the period, measured in real time; the status
            # compares the value with that pace target (and the threshold prorated alike).
            share = (as_of_end - p.start) / (p.end - p.start)
            row["forecast"] = None if value is None else value / share
            row["pace_target"] = None if target is None else target * share
            row["status"] = status_of(
                kpi, value, row["pace_target"], None if threshold is None else threshold * share)
        else:
            row["status"] = status_of(kpi, value, target, threshold)
        out.append(row)
    return out


def kpi_result(kpi, calc, first_month, last_month):
    periods, history = history_of(kpi, first_month, last_month)
    values = values_of(kpi, calc, history)
    return {"kpi": kpi.id, "grain": kpi.grain,
            "values": judged(kpi, values, periods, calc.as_of_end, {})}


def by_results(calc, first_month, last_month):
    """Two KPIs per dimension value (`compute --by`): the sales of each service line, the
    followers of each network. A target formula is evaluated per dimension value, like the
    KPI itself: each line's target is 1.1 × its own sales a year before."""
    out = []
    for kpi_id, dim in (("ventas_netas_totales", "linea_servicio"),
                        ("presencia_medios_digitales", "red")):
        kpi = next(k for k in CATALOG if k.id == kpi_id)
        periods, history = history_of(kpi, first_month, last_month)
        if dim == "linea_servicio":
            series = calc.sum("facturas", "emitida", "monto_neto", history, by=dim)
        else:
            series = calc.last_per("seguidores", "fecha", "seguidores", "red", history, by=True)
        values = []
        for key in sorted(series):
            values.extend(judged(kpi, series[key], periods, calc.as_of_end, {dim: key}))
        out.append({"kpi": kpi_id, "by": dim, "values": values})
    return out


def self_check(con):
    """The time zone machinery does what SPEC §5 says before anything relies on it."""
    # "in America/Santiago, 2026-02-01T01:30:00Z falls in January"
    month = con.execute(
        f"SELECT strftime(TIMESTAMPTZ '2026-02-01T01:30:00Z' AT TIME ZONE '{TZ}', '%Y-%m')"
    ).fetchone()[0]
    assert month == "2026-01", month
    # A local wall time without offset is read in the workspace zone: -03:00 in summer (DST),
    # -04:00 in winter.
    summer, winter = con.execute(
        "SELECT epoch(CAST('2026-01-15 12:00:00' AS TIMESTAMPTZ)), "
        "epoch(CAST('2026-07-15 12:00:00' AS TIMESTAMPTZ))"
    ).fetchone()
    assert summer == dt.datetime(2026, 1, 15, 15, tzinfo=dt.timezone.utc).timestamp(), summer
    assert winter == dt.datetime(2026, 7, 15, 16, tzinfo=dt.timezone.utc).timestamp(), winter


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--from", dest="first", required=True, help="first month, 2025-10")
    parser.add_argument("--to", dest="last", required=True, help="last month, 2026-10")
    parser.add_argument("--as-of", dest="as_of", required=True, help="a date, 2026-10-15")
    parser.add_argument("--kpi", action="append", help="only these KPIs (default: all)")
    parser.add_argument("--by", action="store_true", help="instead, values per dimension value")
    args = parser.parse_args()

    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{TZ}'")
    self_check(con)
    load(con, args.workspace / "data")
    as_of_end = local_midnight(dt.date.fromisoformat(args.as_of) + dt.timedelta(days=1))
    calc = Calc(con, as_of_end)
    if args.by:
        for result in by_results(calc, args.first, args.last):
            print(json.dumps(result))
        return
    for kpi in CATALOG:
        if args.kpi and kpi.id not in args.kpi:
            continue
        if kpi.id.startswith("verif_") and not args.kpi:
            if not (args.workspace / "kpis" / "verificacion.yaml").exists():
                continue
        print(json.dumps(kpi_result(kpi, calc, args.first, args.last)))


if __name__ == "__main__":
    main()
