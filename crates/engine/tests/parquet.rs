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
