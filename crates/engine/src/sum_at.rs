//! `tablero_sum_at_last(x, t)` and `tablero_sum_at_first(x, t)`: per group, the sum of `x`
//! over the rows whose `t` is the group's latest (earliest) — a `last` (`first`) snapshot
//! (SPEC §2) in one aggregate, without finding the point and joining back to the rows.
//!
//! The sum ignores nulls and is null when no row at the point has a value, as `SUM` is. It
//! merges from its own results: the partial sums of several groups, each with its point, give
//! the sum at the latest (earliest) of those points — which is how a daily rollup
//! ([`crate::rollup`]) keeps a day's snapshot and how a window's snapshot is read from the
//! days it spans. Rows without a `t` belong to no point.
//!
//! Only the rollups use it (built on a cluster, it is registered on every node:
//! [`crate::aggregate_functions`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, GroupsAccumulator, Signature,
    Volatility,
};

/// Which end of the group's time points the sum is taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    Latest,
    Earliest,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::Latest => "tablero_sum_at_last",
            End::Earliest => "tablero_sum_at_first",
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

/// The aggregate for `end`.
pub fn udaf(end: End) -> AggregateUDF {
    AggregateUDF::new_from_impl(SumAt {
        signature: Signature::any(2, Volatility::Immutable),
        end,
    })
}

/// The sum of `x` at the latest (earliest) `t` of each group.
pub fn call(end: End, x: Expr, t: Expr) -> Expr {
    udaf(end).call(vec![x, t])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SumAt {
    signature: Signature,
    end: End,
}

impl AggregateUDFImpl for SumAt {
    fn name(&self) -> &str {
        self.end.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(One(Points::new(self.end))))
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
                DataType::Float64,
                true,
            )),
        ])
    }

    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Points::new(self.end)))
    }
}

/// The arguments as the accumulator reads them: values as floats, points as integers (an
/// instant's microseconds; the state keeps them so).
fn arguments(values: &[ArrayRef]) -> Result<(Float64Array, Int64Array)> {
    let [x, t] = values else {
        return exec_err!("tablero_sum_at_*: two arguments expected");
    };
    let x = cast(x, &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone();
    let t = cast(t, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone();
    Ok((x, t))
}

/// Per group: the point reached (if any row had one), the sum of the values there, and
/// whether any of them was not null.
#[derive(Debug)]
struct Points {
    end: End,
    at: Vec<Option<i64>>,
    sum: Vec<f64>,
    valued: Vec<bool>,
}

impl Points {
    fn new(end: End) -> Points {
        Points {
            end,
            at: Vec::new(),
            sum: Vec::new(),
            valued: Vec::new(),
        }
    }

    fn grow(&mut self, groups: usize) {
        if self.at.len() < groups {
            self.at.resize(groups, None);
            self.sum.resize(groups, 0.0);
            self.valued.resize(groups, false);
        }
    }

    /// A row with point `t` and value `x` into group `g`.
    fn add(&mut self, g: usize, t: Option<i64>, x: Option<f64>) {
        let Some(t) = t else { return };
        match self.at[g] {
            Some(at) if at == t => {
                if let Some(x) = x {
                    self.sum[g] += x;
                    self.valued[g] = true;
                }
            }
            Some(at) if !self.end.beyond(t, at) => {}
            _ => {
                self.at[g] = Some(t);
                self.sum[g] = x.unwrap_or(0.0);
                self.valued[g] = x.is_some();
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
            if keep.is_some_and(|k| !k.is_valid(row) || !k.value(row)) {
                continue;
            }
            let x = x.is_valid(row).then(|| x.value(row));
            let t = t.is_valid(row).then(|| t.value(row));
            self.add(g, t, x);
        }
        Ok(())
    }

    fn value(&self, g: usize) -> Option<f64> {
        self.valued[g].then_some(self.sum[g])
    }

    fn point(&self, g: usize) -> Option<i64> {
        self.at[g]
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
        let n = emitted(emit_to, self.at.len());
        let values: Float64Array = (0..n).map(|g| self.value(g)).collect();
        self.drop_first(emit_to);
        Ok(Arc::new(values))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let n = emitted(emit_to, self.at.len());
        let at: Int64Array = (0..n).map(|g| self.point(g)).collect();
        let sum: Float64Array = (0..n).map(|g| self.value(g)).collect();
        self.drop_first(emit_to);
        Ok(vec![Arc::new(at), Arc::new(sum)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        // A state is a point and the sum there: it merges as one row of that value would.
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
            .map(|row| {
                let kept = opt_filter.is_none_or(|k| k.is_valid(row) && k.value(row));
                (kept && t.is_valid(row)).then(|| t.value(row))
            })
            .collect();
        Ok(vec![Arc::new(at), Arc::new(x)])
    }

    fn size(&self) -> usize {
        self.at.capacity() * size_of::<Option<i64>>()
            + self.sum.capacity() * size_of::<f64>()
            + self.valued.capacity()
    }
}

impl Points {
    /// Forgets the groups `emit_to` gave out, renumbering the rest from 0.
    fn drop_first(&mut self, emit_to: EmitTo) {
        emit_to.take_needed(&mut self.at);
        emit_to.take_needed(&mut self.sum);
        emit_to.take_needed(&mut self.valued);
    }
}

fn emitted(emit_to: EmitTo, groups: usize) -> usize {
    match emit_to {
        EmitTo::All => groups,
        EmitTo::First(n) => n.min(groups),
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
        Ok(ScalarValue::Float64(self.0.value(0)))
    }

    fn size(&self) -> usize {
        size_of::<One>() + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.grow(1);
        Ok(vec![
            ScalarValue::Int64(self.0.point(0)),
            ScalarValue::Float64(self.0.value(0)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |v| v.len());
        GroupsAccumulator::merge_batch(&mut self.0, states, &vec![0; n], 1)
    }
}

#[cfg(test)]
mod tests;
