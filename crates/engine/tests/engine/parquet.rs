//! The same rows as CSV and as Parquet give the same KPI values, to the last digit.

use std::sync::Arc;

use datafusion::arrow::array::{Date32Array, Float64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use tablero_engine::Request;

const KPIS: &str = r#"
- { id: ventas, name: Ventas, owner: Finances, unit: currency, grain: month, target: 100, formula: "sales.total" }
- { id: ticket, name: Ticket, owner: Finances, unit: currency, grain: month, formula: "sales.p50" }
- { id: cloud, name: Cloud, owner: Finances, unit: percent, grain: month, formula: "100 * sales.total[region = 'Cloud'] / sales.total" }
"#;

/// (instant in UTC seconds, region, amount). In Santiago (UTC-3 in summer):
/// 2026-01-31T23:30Z is Jan 31 20:30, 2026-02-01T02:30Z is Jan 31 23:30 (January),
/// 2026-02-01T03:30Z is Feb 1 00:30, 2026-02-25T06:13:20Z and 2026-02-02T02:40Z (Feb 1 23:40) are February.
const ROWS: [(i64, &str, f64); 5] = [
    (1_769_902_200, "Cloud", 10.0),
    (1_769_913_000, "Data", 20.0),
    (1_769_916_600, "Cloud", 40.0),
    (1_772_000_000, "Data", 5.5),
    (1_770_000_000, "Cloud", 1.25),
];

/// A workspace in Santiago time with the folders a workspace has.
fn skeleton() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["sources", "kpis", "data"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    std::fs::write(
        dir.path().join("tablero.toml"),
        "name = \"t\"\ntimezone = \"America/Santiago\"\n",
    )
    .unwrap();
    dir
}

fn workspace(file: &str) -> tempfile::TempDir {
    let dir = skeleton();
    let root = dir.path();
    std::fs::write(
        root.join("sources/sales.yaml"),
        format!(
            "name: sales\nfile: data/{file}\ntime: at\ncolumns: {{ at: timestamp, region: string, amount: number }}\ndimensions: [region]\nmeasures:\n  total: {{ agg: sum, expr: amount }}\n  p50: {{ agg: median, expr: amount }}\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("kpis/kpis.yaml"), KPIS).unwrap();
    dir
}

fn write_csv(dir: &std::path::Path) {
    let mut csv = String::from("at,region,amount\n");
    for (t, region, amount) in ROWS {
        let at = jiff::Timestamp::from_second(t).unwrap();
        csv.push_str(&format!("{at},{region},{amount}\n"));
    }
    std::fs::write(dir.join("data/sales.csv"), csv).unwrap();
}

fn write_parquet(dir: &std::path::Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("region", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("day", DataType::Date32, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(
                TimestampMicrosecondArray::from(ROWS.map(|r| r.0 * 1_000_000).to_vec())
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(ROWS.map(|r| r.1).to_vec())),
            Arc::new(Float64Array::from(ROWS.map(|r| r.2).to_vec())),
            Arc::new(Date32Array::from(
                ROWS.map(|r| (r.0 / 86_400 - 3) as i32).to_vec(),
            )),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(dir.join("data/sales.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

async fn values(dir: &std::path::Path) -> Vec<(String, String, Option<f64>)> {
    let (engine, _) = tablero_engine::open(dir).unwrap();
    let request = Request {
        from: Some("2026-01".into()),
        to: Some("2026-02".into()),
        as_of: Some("2026-06-01T00:00:00Z".parse().unwrap()),
        ..Request::default()
    };
    let results = engine.compute(&request).await.unwrap();
    results
        .iter()
        .flat_map(|r| {
            r.values
                .iter()
                .map(move |v| (r.kpi.clone(), v.label.clone(), v.value))
        })
        .collect()
}

#[tokio::test]
async fn parquet_and_csv_agree() {
    let csv = workspace("sales.csv");
    write_csv(csv.path());
    let parquet = workspace("sales.parquet");
    write_parquet(parquet.path());
    let from_csv = values(csv.path()).await;
    let from_parquet = values(parquet.path()).await;
    // January (local): 10 + 20 = 30; February: 40 + 5.5 + 1.25 = 46.75.
    // Median January (10 + 20) / 2 = 15; February median of 1.25, 5.5, 40 = 5.5.
    // Cloud share January 100 * 10 / 30; February 100 * (40 + 1.25) / 46.75.
    let expected = vec![
        ("ventas".to_string(), "2026-01".to_string(), Some(30.0)),
        ("ventas".to_string(), "2026-02".to_string(), Some(46.75)),
        ("ticket".to_string(), "2026-01".to_string(), Some(15.0)),
        ("ticket".to_string(), "2026-02".to_string(), Some(5.5)),
        (
            "cloud".to_string(),
            "2026-01".to_string(),
            Some(100.0 * 10.0 / 30.0),
        ),
        (
            "cloud".to_string(),
            "2026-02".to_string(),
            Some(100.0 * 41.25 / 46.75),
        ),
    ];
    assert_eq!(from_csv, expected);
    assert_eq!(from_parquet, expected);
}

/// A Parquet `DATE` is a local day: 2026-02-01 belongs to February in Santiago, although its
/// midnight in UTC is still January 31 there.
#[tokio::test]
async fn parquet_dates_are_local_days() {
    let dir = skeleton();
    let root = dir.path();
    std::fs::write(
        root.join("sources/events.yaml"),
        "name: events\nfile: data/events.parquet\ntime: day\ncolumns: { day: date }\nmeasures:\n  n: { agg: count }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("kpis/n.yaml"),
        "id: n\nformula: events.n\ngrain: month\n",
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("day", DataType::Date32, true)]));
    // Days since 1970-01-01: 2026-01-31 is day 20484, 2026-02-01 is day 20485.
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Date32Array::from(vec![20484, 20485, 20485]))],
    )
    .unwrap();
    let file = std::fs::File::create(root.join("data/events.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let got = values(root).await;
    assert_eq!(
        got,
        vec![
            ("n".into(), "2026-01".into(), Some(1.0)),
            ("n".into(), "2026-02".into(), Some(2.0))
        ]
    );
}

/// One row a day from 2025-01-01 to 2026-12-31 in Parquet row groups of 10 rows, its time
/// kept three ways: a `DATE`, a local timestamp without zone (00:30 each day) and an instant
/// (03:30 UTC each day). Each way is a source of its own over the same file.
fn write_daily(root: &std::path::Path) {
    use datafusion::parquet::file::properties::WriterProperties;
    let first = 20_089; // 2025-01-01 in days since 1970-01-01 (55 years, 14 leap days: 20075 + 14)
    let days: Vec<i32> = (first..first + 730).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("day", DataType::Date32, true),
        Field::new(
            "wall",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    let micros = |d: i32, seconds: i64| (i64::from(d) * 86_400 + seconds) * 1_000_000;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Date32Array::from(days.clone())),
            Arc::new(TimestampMicrosecondArray::from(
                days.iter().map(|&d| micros(d, 1_800)).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(
                    days.iter().map(|&d| micros(d, 12_600)).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(root.join("data/daily.parquet")).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(10))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    for (source, time, ty) in [
        ("by_day", "day", "date"),
        ("by_wall", "wall", "timestamp"),
        ("by_instant", "at", "timestamp"),
    ] {
        std::fs::write(
            root.join(format!("sources/{source}.yaml")),
            format!("name: {source}\nfile: data/daily.parquet\ntime: {time}\ncolumns: {{ {time}: {ty} }}\nmeasures:\n  n: {{ agg: count }}\n"),
        )
        .unwrap();
    }
    std::fs::write(
        root.join("kpis/kpis.yaml"),
        "- { id: days, formula: by_day.n, grain: month }\n- { id: walls, formula: by_wall.n, grain: month }\n- { id: instants, formula: by_instant.n, grain: month }\n",
    )
    .unwrap();
}

/// A request for two months reads only the row groups that can hold them (the scan gets a
/// range condition on the stored column, which Parquet statistics answer), and the rows at the
/// edges are still counted by their local time: Santiago's clocks go back on 2026-04-05 (UTC-3
/// to UTC-4), so from then on 03:30 UTC is 23:30 of the day before.
#[tokio::test]
async fn a_parquet_scan_skips_row_groups_outside_the_range_and_keeps_the_edges() {
    let dir = skeleton();
    write_daily(dir.path());
    let (engine, _) = tablero_engine::open(dir.path()).unwrap();
    let request = Request {
        from: Some("2026-03".into()),
        to: Some("2026-04".into()),
        as_of: Some("2027-01-01T00:00:00Z".parse().unwrap()),
        ..Request::default()
    };
    let results = engine.compute(&request).await.unwrap();
    let got: Vec<(String, String, Option<f64>)> = results
        .iter()
        .flat_map(|r| {
            r.values
                .iter()
                .map(move |v| (r.kpi.clone(), v.label.clone(), v.value))
        })
        .collect();
    // Days and walls: March has 31 days, April 30. Instants at 03:30 UTC: March 1 03:30Z is
    // 00:30 local (UTC-3) and March 31's too, so March has 31; from April 5 (UTC-4) day D's
    // instant is D-1 23:30, so April holds the instants of April 1 to May 1: 31.
    let expected: Vec<(String, String, Option<f64>)> = [
        ("days", "2026-03", 31.0),
        ("days", "2026-04", 30.0),
        ("walls", "2026-03", 31.0),
        ("walls", "2026-04", 30.0),
        ("instants", "2026-03", 31.0),
        ("instants", "2026-04", 31.0),
    ]
    .iter()
    .map(|(k, p, v)| (k.to_string(), p.to_string(), Some(*v)))
    .collect();
    assert_eq!(got, expected);
    for (kpi, column) in [("days", "day"), ("walls", "wall"), ("instants", "at")] {
        let explained = engine.explain(kpi, &request).await.unwrap();
        let scan = explained
            .optimized_plan
            .lines()
            .find(|l| l.contains("TableScan"))
            .unwrap_or_else(|| panic!("no scan in {}", explained.optimized_plan));
        assert!(
            scan.contains(&format!("{column} >= ")) && scan.contains(&format!("{column} <= ")),
            "{kpi}: the scan has no range on `{column}`: {scan}"
        );
    }
}
