//! `last`/`first` with `per:` plan relationally (SPEC §2, ARCHITECTURE invariants): the plan of
//! a KPI over such a measure — in its period, over a ytd window and by a dimension — unparses
//! to SQL that, run on its own, gives the hand-worked per-network snapshot sums, as computing
//! it does.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tablero_engine::Request;

const SOURCE: &str = "name: followers
file: data/followers.csv
time: at
columns: { at: timestamp, network: string, n: integer }
dimensions: [network]
measures:
  closing: { agg: last, expr: n, per: network }
  opening: { agg: first, expr: n, per: network }
";

const KPIS: &str = r#"
- { id: closing, grain: month, formula: "followers.closing" }
- { id: opening, grain: month, formula: "followers.opening" }
- { id: closing_ytd, grain: month, formula: "ytd(followers.closing)" }
"#;

/// Local times in UTC (no zone in tablero.toml). February: a has snapshots on the 1st and the
/// 28th, b only on the 10th.
const ROWS: &str = "at,network,n
2026-02-01T10:00:00,a,100
2026-02-10T10:00:00,b,50
2026-02-28T10:00:00,a,110
";

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["sources", "kpis", "data"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("tablero.toml"), "name = \"t\"\n").unwrap();
    std::fs::write(root.join("sources/followers.yaml"), SOURCE).unwrap();
    std::fs::write(root.join("kpis/kpis.yaml"), KPIS).unwrap();
    std::fs::write(root.join("data/followers.csv"), ROWS).unwrap();
    dir
}

fn request(by: Option<&str>) -> Request {
    Request {
        from: Some("2026-02".into()),
        to: Some("2026-02".into()),
        by: by.map(str::to_string),
        as_of: Some("2026-06-01T00:00:00Z".parse().unwrap()),
        ..Request::default()
    }
}

/// The followers table as the engine loads it (instants as UTC microseconds), for running the
/// unparsed SQL in a session of its own.
fn followers_table() -> Arc<MemTable> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("network", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let micros = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_microsecond();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampMicrosecondArray::from(vec![
                micros("2026-02-01T10:00:00Z"),
                micros("2026-02-10T10:00:00Z"),
                micros("2026-02-28T10:00:00Z"),
            ])),
            Arc::new(StringArray::from(vec!["a", "b", "a"])),
            Arc::new(Int64Array::from(vec![100, 50, 110])),
        ],
    )
    .unwrap();
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
}

/// Runs SQL over the followers table, in a session with Tablero's functions (its sums are
/// `tablero_sum`): (dimension value or "", value) per result row, sorted.
async fn run_sql(sql: &str) -> Vec<(String, Option<f64>)> {
    let ctx = SessionContext::new();
    ctx.register_table("followers", followers_table()).unwrap();
    for function in tablero_engine::functions() {
        ctx.register_udf(function.as_ref().clone());
    }
    for function in tablero_engine::aggregate_functions() {
        ctx.register_udaf(function.as_ref().clone());
    }
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut rows = Vec::new();
    for batch in batches {
        let value = cast(batch.column_by_name("value").unwrap(), &DataType::Float64).unwrap();
        let value = value.as_any().downcast_ref::<Float64Array>().unwrap();
        let dim = batch
            .column_by_name("__dim")
            .map(|d| cast(d, &DataType::Utf8).unwrap());
        for row in 0..batch.num_rows() {
            let d = dim
                .as_ref()
                .map(|d| d.as_any().downcast_ref::<StringArray>().unwrap().value(row))
                .unwrap_or("")
                .to_string();
            rows.push((d, (!value.is_null(row)).then(|| value.value(row))));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[tokio::test]
async fn per_entity_snapshots_unparse_to_sql_that_gives_the_same_values() {
    let dir = workspace();
    let (engine, diagnostics) = tablero_engine::open(dir.path()).unwrap();
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    // closing: a's latest (Feb 28) 110 + b's latest (Feb 10) 50 = 160; by network a 110, b 50.
    // opening: a's earliest (Feb 1) 100 + b's earliest (Feb 10) 50 = 150; a 100, b 50.
    // closing_ytd reads January–February: the same snapshots as closing.
    // (KPI, --by, expected (dimension value, value) rows)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, f64)>);
    let cases: [Case; 6] = [
        ("closing", None, vec![("", 160.0)]),
        ("closing", Some("network"), vec![("a", 110.0), ("b", 50.0)]),
        ("opening", None, vec![("", 150.0)]),
        ("opening", Some("network"), vec![("a", 100.0), ("b", 50.0)]),
        ("closing_ytd", None, vec![("", 160.0)]),
        (
            "closing_ytd",
            Some("network"),
            vec![("a", 110.0), ("b", 50.0)],
        ),
    ];
    for (kpi, by, expected) in cases {
        let explanation = engine.explain(kpi, &request(by)).await.unwrap();
        let sql = explanation
            .sql
            .unwrap_or_else(|e| panic!("{kpi} by {by:?} has no SQL form: {e}"));
        let expected: Vec<(String, Option<f64>)> = expected
            .into_iter()
            .map(|(d, v)| (d.to_string(), Some(v)))
            .collect();
        assert_eq!(run_sql(&sql).await, expected, "{kpi} by {by:?}: {sql}");
    }
}

#[tokio::test]
async fn per_entity_snapshots_add_up() {
    let dir = workspace();
    let (engine, _) = tablero_engine::open(dir.path()).unwrap();
    let results = engine.compute(&request(None)).await.unwrap();
    let value = |kpi: &str| {
        results
            .iter()
            .find(|r| r.kpi == kpi)
            .map(|r| r.values[0].value)
            .unwrap()
    };
    // closing: a's latest (Feb 28) 110 + b's latest (Feb 10) 50 = 160; the single latest
    // instant (Feb 28) alone would give 110.
    assert_eq!(value("closing"), Some(160.0));
    // opening: a's earliest (Feb 1) 100 + b's earliest (Feb 10) 50 = 150.
    assert_eq!(value("opening"), Some(150.0));
    // ytd over January–February: the same snapshots, 160.
    assert_eq!(value("closing_ytd"), Some(160.0));
}
