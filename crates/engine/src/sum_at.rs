//! `tablero_sum_at_last(x, t)` and `tablero_sum_at_first(x, t)`: per group, the sum of `x`
//! over the rows whose `t` is the group's latest (earliest) — a `last` (`first`) snapshot
//! (SPEC §2) in one aggregate, without finding the point and joining back to the rows.
//!
//! The sum is exact and rounded once ([`crate::exact_sum`]), so it does not depend on the
//! order of the rows; it ignores nulls and is null when no row at the point has a value, as
//! `SUM` is. `tablero_sum_at_last_parts` (`_first_parts`) gives it unrounded, as a list of
//! floats whose exact sum it is, and every one of them takes such lists for `x` too: it
//! merges from its own results, the partial sums of several groups, each with its point,
//! giving the sum at the latest (earliest) of those points — which is how a daily rollup
//! ([`crate::rollup`]) keeps a day's snapshot and how a window's snapshot is read from the
//! days it spans, exactly. Rows without a `t` belong to no point.
//!
//! Only the rollups use it (built on a cluster, it is registered on every node:
//! [`crate::aggregate_functions`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, GroupsAccumulator, Signature,
    Volatility,
};

use crate::exact_sum::{self, Addends, ExactSum, Output, kept, parts_array, parts_type};

/// Which end of the group's time points the sum is taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    Latest,
    Earliest,
}

impl End {
    fn name(self, output: Output) -> &'static str {
        match (self, output) {
            (End::Latest, Output::Rounded) => "tablero_sum_at_last",
            (End::Earliest, Output::Rounded) => "tablero_sum_at_first",
            (End::Latest, Output::Parts) => "tablero_sum_at_last_parts",
            (End::Earliest, Output::Parts) => "tablero_sum_at_first_parts",
        }
    }

    /// Whether point `t` comes after `than` in this end's order.
    fn beyond(self, t: i64, than: i64) -> bool {
        match self {
            End::Latest => t > than,
            End::Earliest => t < than,
        }
    }
}

/// The aggregate for `end` giving `output`.
pub fn udaf(end: End, output: Output) -> AggregateUDF {
    AggregateUDF::new_from_impl(SumAt {
        signature: Signature::any(2, Volatility::Immutable),
        end,
        output,
    })
}

/// The sum of `x` (floats, or lists of parts) at the latest (earliest) `t` of each group,
/// rounded once.
pub fn call(end: End, x: Expr, t: Expr) -> Expr {
    udaf(end, Output::Rounded).call(vec![x, t])
}

/// [`call`] unrounded: the sum's parts, a list of floats.
pub fn parts(end: End, x: Expr, t: Expr) -> Expr {
    udaf(end, Output::Parts).call(vec![x, t])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SumAt {
    signature: Signature,
    end: End,
    output: Output,
}

impl AggregateUDFImpl for SumAt {
    fn name(&self) -> &str {
        self.end.name(self.output)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.output {
            Output::Rounded => DataType::Float64,
            Output::Parts => parts_type(),
        })
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(One(Points::new(self.end, self.output))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "at"),
                DataType::Int64,
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "sum"),
                parts_type(),
                true,
            )),
        ])
    }

    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Points::new(self.end, self.output)))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

/// The arguments as the accumulator reads them: values as floats or lists of them, points as
/// integers (an instant's microseconds; the state keeps them so).
fn arguments(values: &[ArrayRef]) -> Result<(Addends, Int64Array)> {
    let [x, t] = values else {
        return exec_err!("tablero_sum_at_*: two arguments expected");
    };
    let t = cast(t, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone();
    Ok((Addends::of(x)?, t))
}

/// Per group: the point reached (if any row had one) and the exact sum of the values there.
#[derive(Debug)]
struct Points {
    end: End,
    output: Output,
    at: Vec<Option<i64>>,
    sums: Vec<ExactSum>,
}

impl Points {
    fn new(end: End, output: Output) -> Points {
        Points {
            end,
            output,
            at: Vec::new(),
            sums: Vec::new(),
        }
    }

    fn grow(&mut self, groups: usize) {
        if self.at.len() < groups {
            self.at.resize(groups, None);
            self.sums.resize_with(groups, ExactSum::new);
        }
    }

    /// Row `row` of `x`, at point `t`, into group `g`.
    fn add(&mut self, g: usize, t: Option<i64>, x: &Addends, row: usize) {
        let Some(t) = t else { return };
        match self.at[g] {
            Some(at) if at == t => x.add_row(row, &mut self.sums[g]),
            Some(at) if !self.end.beyond(t, at) => {}
            _ => {
                self.at[g] = Some(t);
                self.sums[g].clear();
                x.add_row(row, &mut self.sums[g]);
            }
        }
    }

    /// Rows of `(x, t)` into their groups, those `keep` says yes to (all without it).
    fn add_all(
        &mut self,
        values: &[ArrayRef],
        groups: &[usize],
        keep: Option<&BooleanArray>,
        total: usize,
    ) -> Result<()> {
        let (x, t) = arguments(values)?;
        self.grow(total);
        for (row, &g) in groups.iter().enumerate() {
            if kept(keep, row) {
                self.add(g, t.is_valid(row).then(|| t.value(row)), &x, row);
            }
        }
        Ok(())
    }
}

impl GroupsAccumulator for Points {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.add_all(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        emit_to.take_needed(&mut self.at);
        let sums = emit_to.take_needed(&mut self.sums);
        Ok(exact_sum::output(self.output, sums.iter()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let at: Int64Array = emit_to.take_needed(&mut self.at).into_iter().collect();
        let sums = emit_to.take_needed(&mut self.sums);
        Ok(vec![Arc::new(at), parts_array(sums.iter())])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        // A state is a point and the sum there: it merges as one row of that sum would.
        let [at, sum] = values else {
            return exec_err!("tablero_sum_at_*: a state of two columns expected");
        };
        self.add_all(
            &[sum.clone(), at.clone()],
            group_indices,
            None,
            total_num_groups,
        )
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let (x, t) = arguments(values)?;
        let at: Int64Array = (0..t.len())
            .map(|row| (kept(opt_filter, row) && t.is_valid(row)).then(|| t.value(row)))
            .collect();
        Ok(vec![Arc::new(at), x.as_lists(&|_| true)])
    }

    /// Called once per batch: the parts are estimated (a few per sum) rather than counted.
    fn size(&self) -> usize {
        self.at.capacity() * size_of::<Option<i64>>()
            + self.sums.capacity() * (size_of::<ExactSum>() + 4 * size_of::<f64>())
    }
}

/// The aggregate without grouping: one group.
#[derive(Debug)]
struct One(Points);

impl Accumulator for One {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |v| v.len());
        self.0.add_all(values, &vec![0; n], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.grow(1);
        let value = exact_sum::output(self.0.output, self.0.sums[..1].iter());
        ScalarValue::try_from_array(&value, 0)
    }

    fn size(&self) -> usize {
        size_of::<One>() + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.grow(1);
        Ok(vec![
            ScalarValue::Int64(self.0.at[0]),
            ScalarValue::try_from_array(&parts_array(self.0.sums[..1].iter()), 0)?,
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |v| v.len());
        GroupsAccumulator::merge_batch(&mut self.0, states, &vec![0; n], 1)
    }
}

#[cfg(test)]
mod tests;
