use super::*;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::Schema;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use proptest::prelude::*;

fn exact(values: &[f64]) -> Option<f64> {
    let mut sum = ExactSum::new();
    values.iter().for_each(|&x| sum.add(x));
    sum.value()
}

/// Hand-worked: a float sum from the left loses what the exact sum keeps.
/// - 1e16 + 1 rounds back to 1e16 (1 is half a unit of 1e16's last place, a tie to even);
///   less 1e16 that is 0, while the exact sum is 1.
/// - Ten times 0.1 (the double 0.1000000000000000055511151231257827…) is exactly
///   1.000000000000000055511151231257827…, nearest double 1; summed from the left, 0.9999999999999999.
/// - 0.1 + 0.2 + 0.3 − 0.6 as doubles is exactly 2⁻⁵⁵ = 2.7755575615628914e-17 (Python's
///   `sum(map(Fraction, …))`); from the left, 1.1102230246251565e-16.
/// - 1e-16 + 1 + 1e16 is 10000000000000001.0000000000000001, just above the tie between
///   1e16 and 1e16 + 2: rounded, 10000000000000002 (`math.fsum`); from the left, 1e16.
#[test]
fn sums_exactly_where_a_float_sum_does_not() {
    let cases: [(&[f64], f64, f64); 4] = [
        (&[1e16, 1.0, -1e16], 1.0, 0.0),
        (&[0.1; 10], 1.0, 0.9999999999999999),
        (
            &[0.1, 0.2, 0.3, -0.6],
            2.7755575615628914e-17,
            1.1102230246251565e-16,
        ),
        (&[1e-16, 1.0, 1e16], 1.0000000000000002e16, 1e16),
    ];
    for (values, sum, from_the_left) in cases {
        assert_eq!(values.iter().sum::<f64>(), from_the_left, "{values:?}");
        assert_eq!(exact(values), Some(sum), "{values:?}");
    }
}

/// As SQL's `SUM`: no value, no sum; an infinity or NaN is the sum as in a float sum; a zero
/// sum is +0 whatever the zeros' signs.
#[test]
fn special_values_and_zero_as_a_float_sum() {
    assert_eq!(exact(&[]), None);
    assert_eq!(exact(&[1.0, f64::INFINITY, -5.0]), Some(f64::INFINITY));
    assert_eq!(exact(&[f64::NEG_INFINITY, 1e308]), Some(f64::NEG_INFINITY));
    assert!(
        exact(&[f64::INFINITY, 2.0, f64::NEG_INFINITY])
            .unwrap()
            .is_nan()
    );
    assert!(exact(&[f64::NAN, 1.0]).unwrap().is_nan());
    for zeros in [&[-0.0][..], &[0.0, -0.0], &[1.5, -1.5]] {
        let zero = exact(zeros).unwrap();
        assert_eq!(zero.to_bits(), 0.0_f64.to_bits(), "{zeros:?}");
    }
}

/// Partial sums beyond the largest double are carried, so the order does not decide whether
/// a sum overflows: 1e308 + 1e308 − 1e308 is 1e308 in every order; the largest double twice
/// is beyond every double.
#[test]
fn large_values_do_not_overflow_midway() {
    let max = f64::MAX;
    for values in [
        [1e308, 1e308, -1e308],
        [1e308, -1e308, 1e308],
        [-1e308, 1e308, 1e308],
    ] {
        assert_eq!(exact(&values), Some(1e308), "{values:?}");
    }
    assert_eq!(exact(&[max, max, -max]), Some(max));
    assert_eq!(exact(&[max, max]), Some(f64::INFINITY));
    assert_eq!(exact(&[-max, -max, 1.0]), Some(f64::NEG_INFINITY));
    // The largest double is (2⁵³ − 1) · 2⁹⁷¹, odd; 2⁹⁷⁰ more is the tie with 2¹⁰²⁴, which
    // rounds to even — beyond every double; a hair less, or 2⁹⁶⁹ more, is the largest.
    let half_unit = 2f64.powi(970);
    assert_eq!(exact(&[max, max, -max, half_unit]), Some(f64::INFINITY));
    assert_eq!(exact(&[max, max, -max, half_unit, -5e-324]), Some(max));
    assert_eq!(exact(&[max, half_unit / 2.0, max, -max]), Some(max));
    assert_eq!(exact(&[-max, -half_unit, 1e-300]), Some(-max));
    // Large and tiny together: the tiny survive the large cancelling out.
    assert_eq!(exact(&[max, 5e-324, -max, 5e-324]), Some(1e-323));
    // The carry goes through the encoded form and back.
    let mut sum = ExactSum::new();
    for x in [max, max, max, 1.0] {
        sum.add(x);
    }
    let mut again = ExactSum::new();
    for &x in &sum.encoded().unwrap() {
        again.add(x);
    }
    for x in [-max, -max, -max] {
        again.add(x);
    }
    assert_eq!(again.value(), Some(1.0));
}

/// Values just below 2⁴⁰ go into the 128-bit integer, which overflows after 127 of the same
/// sign and moves into the parts: still exact, in any order. 300 times `a` = 2⁴⁰ − 2⁻¹²
/// (a double: 2⁵² − 1 units of 2⁻¹²), 299 times −a, and 0.5: exactly a + 0.5 =
/// (2⁵² + 2047) · 2⁻¹², a double.
#[test]
fn a_full_integer_moves_into_the_parts() {
    let a = 2f64.powi(40) - 2f64.powi(-12);
    let expected = (2f64.powi(52) + 2047.0) * 2f64.powi(-12);
    let mut values = vec![a; 300];
    values.extend(vec![-a; 299]);
    values.push(0.5);
    assert_eq!(exact(&values), Some(expected));
    for seed in 0..20 {
        let (through_parts, merged) = merged(&shuffled_runs(&values, seed));
        assert_eq!(through_parts, Some(expected), "seed {seed}");
        assert_eq!(merged, Some(expected), "seed {seed}");
    }
}

/// A deterministic shuffle and split of `values` (SplitMix64 from `seed`): the values in
/// another order, cut into runs.
fn shuffled_runs(values: &[f64], seed: u64) -> Vec<Vec<f64>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut values = values.to_vec();
    for i in (1..values.len()).rev() {
        values.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    let mut runs = vec![Vec::new()];
    for x in values {
        if next() % 4 == 0 {
            runs.push(Vec::new());
        }
        runs.last_mut().unwrap().push(x);
    }
    runs
}

/// The sum of runs summed apart, merged two ways: through their encoded parts (as DataFusion
/// merges states and a rollup's days), and with [`ExactSum::merge`].
fn merged(runs: &[Vec<f64>]) -> (Option<f64>, Option<f64>) {
    let (mut through_parts, mut merged) = (ExactSum::new(), ExactSum::new());
    for run in runs {
        let mut sum = ExactSum::new();
        run.iter().for_each(|&x| sum.add(x));
        for &p in sum.encoded().iter().flatten() {
            through_parts.add(p);
        }
        merged.merge(&sum);
    }
    (through_parts.value(), merged.value())
}

fn bits(x: Option<f64>) -> Option<u64> {
    x.map(f64::to_bits)
}

proptest! {
    /// Values `m·2^e` (|m| < 2³⁰, |e| ≤ 40) sum exactly in 128-bit integers of 2⁻⁴⁰; the
    /// nearest double is that integer's (Rust rounds `i128 as f64` to nearest, ties to even)
    /// scaled back. Any order and any split into partial sums give exactly it.
    #[test]
    fn any_order_and_split_gives_the_correctly_rounded_sum(
        terms in prop::collection::vec((-(1_i64 << 30)..(1 << 30), -40_i32..=40), 1..120),
        seed in any::<u64>(),
    ) {
        let values: Vec<f64> = terms.iter().map(|&(m, e)| m as f64 * 2f64.powi(e)).collect();
        let total: i128 = terms.iter().map(|&(m, e)| i128::from(m) << (e + 40)).sum();
        let nearest = total as f64 * 2f64.powi(-40);
        let in_order = exact(&values);
        prop_assert_eq!(bits(in_order), Some(nearest.to_bits()));
        let (through_parts, merged) = merged(&shuffled_runs(&values, seed));
        prop_assert_eq!(bits(through_parts), Some(nearest.to_bits()));
        prop_assert_eq!(bits(merged), Some(nearest.to_bits()));
    }

    /// The same near the top of the doubles: `m·2^e` with 900 ≤ e ≤ 971, exactly `Σ m·2^(e−900)`
    /// times 2⁹⁰⁰, whose nearest double is that integer's scaled (∞ beyond the largest, as
    /// rounding with an unbounded exponent and then overflowing gives). Partial sums beyond
    /// the largest double are carried.
    #[test]
    fn sums_near_the_largest_double_round_correctly(
        terms in prop::collection::vec((-(1_i64 << 30)..(1 << 30), 900_i32..=971), 1..120),
        seed in any::<u64>(),
    ) {
        let values: Vec<f64> = terms.iter().map(|&(m, e)| m as f64 * 2f64.powi(e)).collect();
        let total: i128 = terms.iter().map(|&(m, e)| i128::from(m) << (e - 900)).sum();
        let nearest = total as f64 * 2f64.powi(900);
        prop_assert_eq!(bits(exact(&values)), Some(nearest.to_bits()));
        let (through_parts, merged) = merged(&shuffled_runs(&values, seed));
        prop_assert_eq!(bits(through_parts), Some(nearest.to_bits()));
        prop_assert_eq!(bits(merged), Some(nearest.to_bits()));
    }

    /// Any finite doubles, subnormal to the largest: every order and split gives the same
    /// bits.
    #[test]
    fn any_doubles_sum_to_the_same_bits_in_any_order(
        values in prop::collection::vec(
            prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
            1..60,
        ),
        seed in any::<u64>(),
    ) {
        let in_order = bits(exact(&values));
        let (through_parts, merged) = merged(&shuffled_runs(&values, seed));
        prop_assert_eq!(bits(through_parts), in_order);
        prop_assert_eq!(bits(merged), in_order);
    }
}

/// Rows (group, day, value) over three partitions, so that DataFusion sums each partition
/// apart and merges the states. By hand, per group:
/// - a: 1e16, 1, −1e16, 0.5 (and a null): exactly 1.5; a float sum in this order, 0.5.
/// - b: only nulls: null.
/// - c: 0.1 ten times: 1 (a float sum, 0.9999999999999999).
const ROWS: [&[(&str, i64, Option<f64>)]; 3] = [
    &[
        ("a", 1, Some(1e16)),
        ("b", 1, None),
        ("c", 1, Some(0.1)),
        ("c", 2, Some(0.1)),
        ("c", 2, Some(0.1)),
    ],
    &[
        ("a", 1, Some(1.0)),
        ("a", 2, None),
        ("c", 1, Some(0.1)),
        ("c", 3, Some(0.1)),
        ("c", 3, Some(0.1)),
    ],
    &[
        ("a", 2, Some(-1e16)),
        ("a", 3, Some(0.5)),
        ("b", 2, None),
        ("c", 1, Some(0.1)),
        ("c", 2, Some(0.1)),
        ("c", 3, Some(0.1)),
        ("c", 3, Some(0.1)),
    ],
];

fn context() -> SessionContext {
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Utf8, false),
        Field::new("d", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
    ]));
    let partitions = ROWS
        .iter()
        .map(|rows| {
            let g: StringArray = rows.iter().map(|r| Some(r.0)).collect();
            let d: Int64Array = rows.iter().map(|r| Some(r.1)).collect();
            let x: Float64Array = rows.iter().map(|r| r.2).collect();
            let columns: Vec<ArrayRef> = vec![Arc::new(g), Arc::new(d), Arc::new(x)];
            vec![RecordBatch::try_new(schema.clone(), columns).unwrap()]
        })
        .collect();
    let ctx = SessionContext::new();
    let table = MemTable::try_new(schema, partitions).unwrap();
    ctx.register_table("r", Arc::new(table)).unwrap();
    ctx.register_udaf(udaf(Output::Rounded));
    ctx.register_udaf(udaf(Output::Parts));
    ctx
}

/// The rows of `sql` as `(group, value)`, the value's exact digits (`null` for none).
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
        let g = batch.column(0).as_string::<i32>();
        let v = batch.column(1).as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            let value = match v.is_null(row) {
                true => "null".to_string(),
                false => format!("{:?}", v.value(row)),
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

/// Across partitions, and through per-day parts summed again (as a rollup is read), the same
/// exact sums; with a `FILTER`, and without grouping.
#[test]
fn sums_rows_and_parts_alike_in_sql() {
    let expected = pairs(&[("a", "1.5"), ("b", "null"), ("c", "1.0")]);
    assert_eq!(run("SELECT g, tablero_sum(x) FROM r GROUP BY g"), expected);
    let by_day = "SELECT g, d, tablero_sum_parts(x) AS p FROM r GROUP BY g, d";
    assert_eq!(
        run(&format!(
            "SELECT g, tablero_sum(p) FROM ({by_day}) AS days GROUP BY g"
        )),
        expected
    );
    // Parts of parts: days summed into parts again, then rounded.
    assert_eq!(
        run(&format!(
            "SELECT g, tablero_sum(q) FROM (SELECT g, tablero_sum_parts(p) AS q \
             FROM ({by_day}) AS days GROUP BY g) AS groups GROUP BY g"
        )),
        expected
    );
    // Without a's 0.5: exactly 1.
    assert_eq!(
        run("SELECT g, tablero_sum(x) FILTER (WHERE x <> 0.5) FROM r WHERE g = 'a' GROUP BY g"),
        pairs(&[("a", "1.0")])
    );
    // One sum of every row: 1.5 + 1 = 2.5; of none, null.
    assert_eq!(
        run("SELECT 'all', tablero_sum(x) FROM r"),
        pairs(&[("all", "2.5")])
    );
    assert_eq!(
        run("SELECT 'none', tablero_sum(x) FROM r WHERE g = 'b'"),
        pairs(&[("none", "null")])
    );
}

/// The accumulator on its own: a filter, the state of the first groups taken out (the rest
/// renumbered), states merged, rows turned into states directly.
#[test]
fn groups_accumulator_states_merge_exactly() {
    let mut sums = Sums {
        sums: Vec::new(),
        output: Output::Rounded,
    };
    let x: ArrayRef = Arc::new(Float64Array::from(vec![
        Some(1e16),
        Some(1.0),
        None,
        Some(3.0),
        Some(2.0),
    ]));
    let keep = BooleanArray::from(vec![true, true, true, false, true]);
    sums.update_batch(std::slice::from_ref(&x), &[0, 0, 1, 1, 2], Some(&keep), 3)
        .unwrap();
    // Group 0: 1e16 + 1; group 1: nothing kept (null); group 2: 2.
    let state = sums.state(EmitTo::First(2)).unwrap();
    let mut again = Sums {
        sums: Vec::new(),
        output: Output::Rounded,
    };
    again.merge_batch(&state, &[0, 1], 2).unwrap();
    let rows_as_state = sums.convert_to_state(&[x], Some(&keep)).unwrap();
    // Row 0 (1e16) and row 4 (2) into group 0, row 3 (filtered out) into group 1.
    let minus: ArrayRef = Arc::new(Float64Array::from(vec![-1e16]));
    again.update_batch(&[minus], &[0], None, 2).unwrap();
    again
        .merge_batch(&rows_as_state, &[1, 1, 1, 0, 1], 2)
        .unwrap();
    let values = again.evaluate(EmitTo::All).unwrap();
    let values = values.as_primitive::<Float64Type>();
    // Group 0: 1e16 + 1 − 1e16 (the filtered 3 is nothing) = 1. Group 1: 1e16 + 1 + 2 =
    // 10000000000000003 exactly, halfway between the doubles 1e16 + 2 and 1e16 + 4: to even,
    // 1e16 + 4 (Python: `float(Fraction(10**16) + 3)`); a float sum from the left, 1e16 + 2.
    assert_eq!(values.value(0), 1.0);
    assert_eq!(values.value(1), 10000000000000004.0);
    // Group 2 of the first accumulator is now its group 0: 2.
    let rest = sums.evaluate(EmitTo::All).unwrap();
    assert_eq!(rest.as_primitive::<Float64Type>().values().as_ref(), [2.0]);
}
