//! `tablero_window_index(t, b1, …, bm)`: how many of the increasing instants `b1 … bm` are at
//! or before the instant `t` — the position of a row's time among the boundaries of the
//! windows a leaf reads, found by a binary search per row.
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
        let position = |x: i64| boundaries.partition_point(|b| *b <= x) as i64;
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

    #[test]
    fn without_boundaries_every_time_is_in_the_first_place() {
        assert_eq!(call(lit(1_i64), &[]), lit(0_i64));
        assert_eq!(positions(vec![Some(7)], &[]), vec![Some(0)]);
    }
}
