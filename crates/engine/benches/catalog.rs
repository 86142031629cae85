//! Benchmark: compile and compute a 20-KPI catalog monthly over three years on generated data
//! (one million invoice rows by default; `TABLERO_BENCH_ROWS` changes it).
//!
//! Run with `cargo bench -p tablero-engine --bench catalog`. Under `cargo test` it runs once on
//! a small data set, so it cannot rot.

use std::fmt::Write as _;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use tablero_engine::Request;

/// A small deterministic generator (SplitMix64), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const DEPARTMENTS: [&str; 5] = ["Cloud", "Data", "Desarrollo", "QA", "Soporte"];
const THREE_YEARS_SECONDS: u64 = 3 * 365 * 86_400;
/// 2024-01-01T00:00:00Z.
const START: i64 = 1_704_067_200;

fn instant(rng: &mut Rng) -> String {
    let t = START + rng.below(THREE_YEARS_SECONDS) as i64;
    jiff::Timestamp::from_second(t)
        .expect("in range")
        .to_string()
}

fn write_workspace(dir: &Path, rows: usize) {
    let mut rng = Rng(42);
    std::fs::create_dir_all(dir.join("sources")).unwrap();
    std::fs::create_dir_all(dir.join("kpis")).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("tablero.toml"),
        "name = \"bench\"\nlocale = \"es\"\ntimezone = \"America/Santiago\"\ncurrency = \"CLP\"\nfiscal_year_start = 1\n",
    )
    .unwrap();

    let mut invoices = String::from("id,client_id,department,amount,kind,issued_at\n");
    for i in 0..rows {
        let client = (rng.below(1000) * rng.below(1000)) / 1000;
        let dept = DEPARTMENTS[rng.below(5) as usize];
        let amount = 100_000 + rng.below(9_000_000);
        let kind = if rng.below(20) == 0 {
            "credit"
        } else {
            "invoice"
        };
        writeln!(
            invoices,
            "{i},{client},{dept},{amount},{kind},{}",
            instant(&mut rng)
        )
        .unwrap();
    }
    std::fs::write(dir.join("data/invoices.csv"), invoices).unwrap();

    let opportunities = rows / 5;
    let mut opps = String::from("id,department,stage,amount,created_at,closed_at\n");
    for i in 0..opportunities {
        let created = START + rng.below(THREE_YEARS_SECONDS) as i64;
        let closed = created + 86_400 * (5 + rng.below(120) as i64);
        let stage = ["won", "lost", "lost", "qualified", "committed"][rng.below(5) as usize];
        let ts = |t: i64| jiff::Timestamp::from_second(t).unwrap().to_string();
        writeln!(
            opps,
            "{i},{},{stage},{},{},{}",
            DEPARTMENTS[rng.below(5) as usize],
            1_000_000 + rng.below(50_000_000),
            ts(created),
            ts(closed)
        )
        .unwrap();
    }
    std::fs::write(dir.join("data/opportunities.csv"), opps).unwrap();

    let mut employees = String::from("id,department,hired_on,left_on\n");
    for i in 0..(rows / 500).max(50) {
        let hired = START - 86_400 * 365 + rng.below(THREE_YEARS_SECONDS + 365 * 86_400) as i64;
        let left = if rng.below(3) == 0 {
            jiff::Timestamp::from_second(hired + 86_400 * (30 + rng.below(700) as i64))
                .unwrap()
                .to_string()
        } else {
            String::new()
        };
        let hired = jiff::Timestamp::from_second(hired).unwrap().to_string();
        writeln!(
            employees,
            "{i},{},{hired},{left}",
            DEPARTMENTS[rng.below(5) as usize]
        )
        .unwrap();
    }
    std::fs::write(dir.join("data/employees.csv"), employees).unwrap();

    let mut tickets = String::from("id,department,created_at,first_response_at,resolved_at,csat\n");
    for i in 0..rows / 10 {
        let created = START + rng.below(THREE_YEARS_SECONDS) as i64;
        let ts = |t: i64| jiff::Timestamp::from_second(t).unwrap().to_string();
        writeln!(
            tickets,
            "{i},{},{},{},{},{}",
            DEPARTMENTS[rng.below(5) as usize],
            ts(created),
            ts(created + 60 * (1 + rng.below(240) as i64)),
            ts(created + 3600 * (1 + rng.below(96) as i64)),
            1 + rng.below(5)
        )
        .unwrap();
    }
    std::fs::write(dir.join("data/tickets.csv"), tickets).unwrap();

    std::fs::write(
        dir.join("sources/sources.yaml"),
        r#"- name: invoices
  file: data/invoices.csv
  time: issued_at
  columns: { id: integer, client_id: integer, department: string, amount: number, kind: string, issued_at: timestamp }
  dimensions: [department, kind]
  measures:
    net: { agg: sum, expr: amount, filter: "kind = 'invoice'" }
    gross: { agg: sum, expr: amount }
    credits: { agg: sum, expr: amount, filter: "kind = 'credit'" }
    count: { agg: count }
    clients: { agg: count_distinct, expr: client_id }
    p90: { agg: percentile, p: 0.9, expr: amount }
    median: { agg: median, expr: amount }
- name: opportunities
  file: data/opportunities.csv
  time: created_at
  columns: { id: integer, department: string, stage: string, amount: number, created_at: timestamp, closed_at: timestamp }
  dimensions: [department, stage]
  measures:
    created: { agg: count }
    won: { agg: count, filter: "stage = 'won'", time: closed_at }
    closed: { agg: count, filter: "stage in ('won', 'lost')", time: closed_at }
    won_amount: { agg: sum, expr: amount, filter: "stage = 'won'", time: closed_at }
    cycle_days: { agg: avg, expr: "days_between(created_at, closed_at)", filter: "stage = 'won'", time: closed_at }
- name: employees
  file: data/employees.csv
  time: hired_on
  columns: { id: integer, department: string, hired_on: timestamp, left_on: timestamp }
  dimensions: [department]
  measures:
    headcount: { agg: active, start: hired_on, end: left_on, at: average }
    exits: { agg: count, time: left_on }
- name: tickets
  file: data/tickets.csv
  time: created_at
  columns: { id: integer, department: string, created_at: timestamp, first_response_at: timestamp, resolved_at: timestamp, csat: integer }
  dimensions: [department]
  measures:
    wait_minutes: { agg: avg, expr: "minutes_between(created_at, first_response_at)" }
    resolution_hours: { agg: avg, expr: "hours_between(created_at, resolved_at)" }
    satisfied: { agg: count, filter: "csat >= 4" }
    answered: { agg: count, expr: csat }
"#,
    )
    .unwrap();

    let kpis = [
        (
            "ventas_netas",
            "invoices.gross - invoices.credits",
            "currency",
        ),
        ("facturas", "invoices.count", "count"),
        ("clientes_facturados", "invoices.clients", "count"),
        (
            "concentracion",
            "100 * max(invoices.gross per client_id) / invoices.gross",
            "percent",
        ),
        (
            "top5",
            "100 * top(5, invoices.gross per client_id) / invoices.gross",
            "percent",
        ),
        ("hhi", "hhi(invoices.gross per client_id)", "number"),
        ("factura_p90", "invoices.p90", "currency"),
        ("factura_mediana", "invoices.median", "currency"),
        ("ventas_ytd", "ytd(invoices.gross)", "currency"),
        ("crecimiento", "growth(ventas_netas)", "percent"),
        ("ventas_ano_anterior", "year_ago(ventas_netas)", "currency"),
        (
            "conversion",
            "100 * opportunities.won / opportunities.closed",
            "percent",
        ),
        (
            "conversion_cloud",
            "100 * opportunities.won[department = 'Cloud'] / opportunities.closed[department = 'Cloud']",
            "percent",
        ),
        (
            "valor_promedio",
            "opportunities.won_amount / opportunities.won",
            "currency",
        ),
        ("ciclo", "opportunities.cycle_days", "days"),
        ("dotacion", "employees.headcount", "count"),
        (
            "rotacion",
            "100 * employees.exits / employees.headcount",
            "percent",
        ),
        ("espera", "rolling(tickets.wait_minutes, 3)", "minutes"),
        ("resolucion", "tickets.resolution_hours", "hours"),
        (
            "csat",
            "100 * tickets.satisfied / tickets.answered",
            "percent",
        ),
    ];
    let mut yaml = String::new();
    for (id, formula, unit) in kpis {
        writeln!(
            yaml,
            "- {{ id: {id}, name: {id}, owner: Finances, unit: {unit}, grain: month, target: 100, formula: \"{formula}\" }}"
        )
        .unwrap();
    }
    std::fs::write(dir.join("kpis/catalog.yaml"), yaml).unwrap();
}

fn catalog(c: &mut Criterion) {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rows: usize = std::env::var("TABLERO_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 5_000 } else { 1_000_000 });
    let dir = tempfile::tempdir().expect("temporary folder");
    write_workspace(dir.path(), rows);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let request = Request {
        from: Some("2024-01".into()),
        to: Some("2026-12".into()),
        as_of: Some("2027-01-01T00:00:00Z".parse().expect("instant")),
        ..Request::default()
    };
    let (engine, _) = tablero_engine::open(dir.path()).expect("bench workspace checks");
    // Load the sources once; the benchmark measures compiling and computing.
    let first = runtime
        .block_on(engine.compute(&request))
        .expect("computes");
    assert_eq!(first.len(), 20);
    assert!(first.iter().all(|k| k.values.len() == 36));
    let mut group = c.benchmark_group("catalog");
    group.sample_size(10);
    group.bench_function(format!("20 KPIs x 36 months, {rows} invoice rows"), |b| {
        b.iter(|| {
            runtime
                .block_on(engine.compute(&request))
                .expect("computes")
        })
    });
    group.finish();
}

criterion_group!(benches, catalog);
criterion_main!(benches);
