//! `tablero_window_index(t, b1, …, bm)`: how many of the increasing instants `b1 … bm` are at
//! or before the instant `t` — the position of a row's time among the boundaries of the
//! windows a leaf reads, found per row in constant time from a table of equal buckets no
//! wider than the closest two boundaries (months over years: about forty buckets), or by a
//! binary search when the boundaries are too close for a small table.
//!
//! This is how a row finds its period: for periods that follow each other the boundaries are
//! the periods' starts after the first, and the position is the period's index; for windows
//! that overlap or leave gaps (`ytd`, `rolling`) it is the index of the elementary segment
//! between two consecutive boundaries, and a small table maps segments to the windows that
//! contain them (an equality join, which every engine — a cluster too — runs well, unlike a
//! join on a range). One function call whatever the number of periods, rather than an
//! expression growing with them.
//!
//! Like [`crate::local_time`], it is registered on every node of a cluster ([`udf`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};
use jiff::Timestamp;

/// The function's name in plans and generated SQL.
pub const NAME: &str = "tablero_window_index";

/// The function, for a session (or a cluster node) to register.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(WindowIndex {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

/// The number of `boundaries` (increasing) at or before `t`, a timestamp expression.
pub fn call(t: Expr, boundaries: &[Timestamp]) -> Expr {
    if boundaries.is_empty() {
        return lit(0_i64);
    }
    let mut args = vec![t];
    args.extend(boundaries.iter().map(|b| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(b.as_microsecond()),
            None,
        ))
    }));
    udf().call(args)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct WindowIndex {
    signature: Signature,
}

fn boundary(arg: &ColumnarValue) -> Result<i64> {
    match arg {
        ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(Some(b), _)) => Ok(*b),
        _ => exec_err!("{NAME}: the boundaries must be constant instants"),
    }
}

impl ScalarUDFImpl for WindowIndex {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some((t, rest)) = args.args.split_first() else {
            return exec_err!("{NAME} takes an instant and its boundaries");
        };
        let boundaries = rest.iter().map(boundary).collect::<Result<Vec<i64>>>()?;
        if !boundaries.is_sorted() {
            return exec_err!("{NAME}: the boundaries must increase");
        }
        let lookup = Lookup::new(&boundaries);
        let position = |x: i64| lookup.position(x);
        let array = match t {
            ColumnarValue::Array(array) => Arc::clone(array),
            ColumnarValue::Scalar(scalar) => scalar.to_array()?,
        };
        let DataType::Timestamp(TimeUnit::Microsecond, _) = array.data_type() else {
            return exec_err!("{NAME} expects an instant, got {}", array.data_type());
        };
        let positions: Int64Array = array
            .as_primitive::<TimestampMicrosecondType>()
            .unary(position);
        Ok(match t {
            ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(positions)),
            ColumnarValue::Scalar(_) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&positions, 0)?)
            }
        })
    }
}

/// The most buckets [`Lookup`] builds for one call (a batch of rows).
const MAX_BUCKETS: i64 = 4096;

/// How many boundaries are at or before a time: in constant time by a table of equal buckets
/// no wider than the closest two boundaries (so at most one boundary falls inside a bucket),
/// else by a binary search.
pub(crate) enum Lookup<'b> {
    Search(&'b [i64]),
    Table {
        first: i64,
        last: i64,
        width: i64,
        /// Per bucket: the boundaries at or before its start, and the one inside it (or
        /// `i64::MAX`).
        below: Vec<i64>,
        inside: Vec<i64>,
        count: i64,
    },
}

impl<'b> Lookup<'b> {
    pub(crate) fn new(boundaries: &'b [i64]) -> Lookup<'b> {
        let closest = boundaries
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .min()
            .unwrap_or(0);
        let (Some(&first), Some(&last)) = (boundaries.first(), boundaries.last()) else {
            return Lookup::Search(boundaries);
        };
        let buckets = last
            .checked_sub(first)
            .map(|span| span / closest.max(1) + 1);
        if boundaries.len() < 8 || closest <= 0 || buckets.is_none_or(|b| b > MAX_BUCKETS) {
            return Lookup::Search(boundaries);
        }
        let width = closest;
        let n = buckets.unwrap_or(0) as usize;
        let mut below = Vec::with_capacity(n);
        let mut inside = Vec::with_capacity(n);
        let mut next = 0;
        for k in 0..n as i64 {
            let start = first + k * width;
            while next < boundaries.len() && boundaries[next] <= start {
                next += 1;
            }
            below.push(next as i64);
            inside.push(match boundaries.get(next) {
                Some(b) if *b < start.saturating_add(width) => *b,
                _ => i64::MAX,
            });
        }
        Lookup::Table {
            first,
            last,
            width,
            below,
            inside,
            count: boundaries.len() as i64,
        }
    }

    pub(crate) fn position(&self, x: i64) -> i64 {
        match self {
            Lookup::Search(boundaries) => boundaries.partition_point(|b| *b <= x) as i64,
            Lookup::Table {
                first,
                last,
                width,
                below,
                inside,
                count,
            } => {
                if x < *first {
                    0
                } else if x >= *last {
                    *count
                } else {
                    let k = ((x - first) / width) as usize;
                    below[k] + i64::from(x >= inside[k])
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    fn positions(times: Vec<Option<i64>>, boundaries: &[i64]) -> Vec<Option<i64>> {
        let mut args = vec![ColumnarValue::Array(Arc::new(
            TimestampMicrosecondArray::from(times.clone()),
        ))];
        args.extend(
            boundaries
                .iter()
                .map(|b| ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(Some(*b), None))),
        );
        let ty = DataType::Timestamp(TimeUnit::Microsecond, None);
        let arg_fields = (0..args.len())
            .map(|i| Arc::new(Field::new(format!("a{i}"), ty.clone(), true)))
            .collect();
        let out = udf()
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: times.len(),
                return_field: Arc::new(Field::new("out", DataType::Int64, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap();
        let ColumnarValue::Array(out) = out else {
            panic!("an array in, an array out")
        };
        out.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .iter()
            .collect()
    }

    #[test]
    fn a_time_is_placed_after_every_boundary_at_or_before_it() {
        // Boundaries 10, 20, 30: below 10 → 0; [10, 20) → 1; [20, 30) → 2; 30 and above → 3.
        let got = positions(
            vec![
                Some(5),
                Some(10),
                Some(19),
                Some(20),
                Some(30),
                Some(99),
                None,
            ],
            &[10, 20, 30],
        );
        assert_eq!(
            got,
            vec![Some(0), Some(1), Some(1), Some(2), Some(3), Some(3), None]
        );
    }

    proptest::proptest! {
        #[test]
        fn the_bucket_table_places_times_as_a_binary_search_does(
            start in -1_000_000i64..1_000_000,
            // Gaps of at least 1,000 over at most 60 boundaries: a table of ≤ 3,001 buckets.
            gaps in proptest::collection::vec(1_000i64..50_000, 8..60),
            times in proptest::collection::vec(-1_100_000i64..4_100_000, 1..200),
        ) {
            let boundaries: Vec<i64> = gaps
                .iter()
                .scan(start, |at, gap| {
                    *at += gap;
                    Some(*at)
                })
                .collect();
            let lookup = Lookup::new(&boundaries);
            let table = matches!(lookup, Lookup::Table { .. });
            proptest::prop_assert!(table, "a table for gaps of at least 1,000");
            for x in times.iter().copied().chain(boundaries.iter().flat_map(|b| [b - 1, *b, b + 1])) {
                let expected = boundaries.partition_point(|b| *b <= x) as i64;
                proptest::prop_assert_eq!(lookup.position(x), expected, "x = {}", x);
            }
        }
    }

    #[test]
    fn months_use_the_bucket_table() {
        // 37 month starts (days apart): a table of at most 4096 buckets, one per 28 days.
        let day = 86_400_000_000_i64;
        let starts: Vec<i64> = (0..37).map(|m| m * 30 * day + (m % 3) * day).collect();
        assert!(matches!(Lookup::new(&starts), Lookup::Table { .. }));
        assert_eq!(Lookup::new(&starts).position(starts[20]), 21);
        assert_eq!(Lookup::new(&starts).position(starts[20] - 1), 20);
    }

    #[test]
    fn without_boundaries_every_time_is_in_the_first_place() {
        assert_eq!(call(lit(1_i64), &[]), lit(0_i64));
        assert_eq!(positions(vec![Some(7)], &[]), vec![Some(0)]);
    }
}
