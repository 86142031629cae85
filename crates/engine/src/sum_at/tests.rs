use super::*;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{Float64Type, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

/// One row: group, point, value.
type Row = (&'static str, Option<i64>, Option<f64>);

/// Rows spread over three partitions, so that DataFusion aggregates each partition apart and
/// merges the states — rows of one group at one point fall in different partitions.
const ROWS: [&[Row]; 3] = [
    &[
        ("a", Some(1), Some(10.0)),
        ("a", Some(3), Some(5.0)),
        ("b", Some(5), None),
        ("c", None, Some(9.0)),
    ],
    &[
        ("a", Some(3), Some(7.0)),
        ("a", Some(2), Some(100.0)),
        ("b", Some(5), None),
        ("d", None, Some(3.0)),
    ],
    &[
        ("a", Some(3), None),
        ("b", Some(4), Some(1.0)),
        ("c", Some(2), Some(4.0)),
    ],
];

fn context() -> SessionContext {
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Utf8, false),
        Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("x", DataType::Float64, true),
    ]));
    let partitions = ROWS
        .iter()
        .map(|rows| {
            let g: StringArray = rows.iter().map(|r| Some(r.0)).collect();
            let t: TimestampMicrosecondArray = rows.iter().map(|r| r.1).collect();
            let x: Float64Array = rows.iter().map(|r| r.2).collect();
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(g), Arc::new(t), Arc::new(x)])
                    .unwrap();
            vec![batch]
        })
        .collect();
    let ctx = SessionContext::new();
    ctx.register_table(
        "r",
        Arc::new(MemTable::try_new(schema, partitions).unwrap()),
    )
    .unwrap();
    for end in [End::Latest, End::Earliest] {
        for output in [Output::Rounded, Output::Parts] {
            ctx.register_udaf(udaf(end, output));
        }
    }
    ctx
}

/// The rows of `sql` as `(group, value)`, the value as text (`null` for none).
fn run(sql: &str) -> Vec<(String, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let batches = runtime.block_on(async {
        let ctx = context();
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    });
    let mut out = Vec::new();
    for batch in &batches {
        let g = cast(batch.column(0), &DataType::Utf8).unwrap();
        let g = g.as_string::<i32>();
        let v = batch.column(1).as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            let value = if v.is_null(row) {
                "null".to_string()
            } else {
                v.value(row).to_string()
            };
            out.push((g.value(row).to_string(), value));
        }
    }
    out.sort();
    out
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(g, v)| (g.to_string(), v.to_string()))
        .collect()
}

/// Per group, by hand from [`ROWS`]:
/// - a: points 1 (10), 2 (100), 3 (5, 7, null) — latest 3: 5 + 7 = 12; earliest 1: 10.
/// - b: points 4 (1), 5 (null, null) — latest 5 has no value: null; earliest 4: 1.
/// - c: a row without a point (9) counts nowhere; point 2 (4): 4 both ways.
/// - d: no row with a point: null both ways.
#[test]
fn sums_at_each_groups_latest_and_earliest_point() {
    for (function, expected) in [
        (
            "tablero_sum_at_last",
            [("a", "12"), ("b", "null"), ("c", "4"), ("d", "null")],
        ),
        (
            "tablero_sum_at_first",
            [("a", "10"), ("b", "1"), ("c", "4"), ("d", "null")],
        ),
    ] {
        let sql = format!("SELECT g, {function}(x, t) FROM r GROUP BY g");
        assert_eq!(run(&sql), pairs(&expected), "{function}");
    }
}

/// Without grouping (one accumulator), and with a `FILTER`: over every row the latest point
/// is b's 5 (no value: null) and the earliest a's 1 (10); without b the latest is a's 3
/// (5 + 7 = 12).
#[test]
fn sums_over_all_rows_and_filtered_rows() {
    for (sql, expected) in [
        ("SELECT 'all', tablero_sum_at_last(x, t) FROM r", "null"),
        ("SELECT 'all', tablero_sum_at_first(x, t) FROM r", "10"),
        (
            "SELECT 'all', tablero_sum_at_last(x, t) FILTER (WHERE g <> 'b') FROM r",
            "12",
        ),
    ] {
        assert_eq!(run(sql), pairs(&[("all", expected)]), "{sql}");
    }
    // Grouped and filtered: a's rows at point 3 without the 7 give 5.
    assert_eq!(
        run(
            "SELECT g, tablero_sum_at_last(x, t) FILTER (WHERE x <> 7) FROM r WHERE g = 'a' GROUP BY g"
        ),
        pairs(&[("a", "5")])
    );
}

/// The accumulator's states merge as their rows would, and emitting the first groups
/// renumbers the rest: group 0 gets points 2 (1.5) then 2 (2.5) from a state; group 1 point 7
/// (null) then 9 (4) from a state.
#[test]
fn states_merge_and_emit_in_parts() {
    let mut points = Points::new(End::Latest, Output::Rounded);
    let x: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.5), None]));
    let t: ArrayRef = Arc::new(Int64Array::from(vec![Some(2), Some(7)]));
    points.update_batch(&[x, t], &[0, 1], None, 2).unwrap();
    let at: ArrayRef = Arc::new(Int64Array::from(vec![Some(2), Some(9)]));
    let sum = Addends::of(&(Arc::new(Float64Array::from(vec![Some(2.5), Some(4.0)])) as ArrayRef))
        .unwrap()
        .as_lists(&|_| true);
    points.merge_batch(&[at, sum], &[0, 1], 2).unwrap();
    let first = points.evaluate(EmitTo::First(1)).unwrap();
    assert_eq!(first.as_primitive::<Float64Type>().values().as_ref(), [4.0]);
    let state = points.state(EmitTo::All).unwrap();
    assert_eq!(state[0].as_primitive::<Int64Type>().values().as_ref(), [9]);
    let sums = state[1].as_list::<i32>();
    assert_eq!(sums.len(), 1);
    assert_eq!(
        sums.value(0)
            .as_primitive::<Float64Type>()
            .values()
            .as_ref(),
        [4.0]
    );
}

/// The sum at a point is exact, and its parts merge exactly: 1e16 + 1 − 1e16 at one point is
/// 1 however the rows are split (a float sum in this order gives 0), and the day's parts of
/// a rollup summed again give the same.
#[test]
fn sums_at_a_point_exactly_from_rows_or_parts() {
    let run_one = |batches: Vec<Vec<(i64, f64)>>, output: Output| {
        let mut points = Points::new(End::Latest, output);
        for rows in batches {
            let x: ArrayRef = Arc::new(rows.iter().map(|r| Some(r.1)).collect::<Float64Array>());
            let t: ArrayRef = Arc::new(rows.iter().map(|r| Some(r.0)).collect::<Int64Array>());
            let groups = vec![0; rows.len()];
            points.update_batch(&[x, t], &groups, None, 1).unwrap();
        }
        points.evaluate(EmitTo::All).unwrap()
    };
    let rows = vec![(5, 1e16), (5, 1.0), (4, 7.0), (5, -1e16)];
    let rounded = run_one(vec![rows.clone()], Output::Rounded);
    assert_eq!(rounded.as_primitive::<Float64Type>().value(0), 1.0);
    // Each row on its own as parts, then merged: the same bits.
    let mut merged = Points::new(End::Latest, Output::Rounded);
    for row in rows {
        let parts = run_one(vec![vec![row]], Output::Parts);
        let t: ArrayRef = Arc::new(Int64Array::from(vec![Some(row.0)]));
        merged.update_batch(&[parts, t], &[0], None, 1).unwrap();
    }
    let value = merged.evaluate(EmitTo::All).unwrap();
    assert_eq!(value.as_primitive::<Float64Type>().value(0), 1.0);
}
