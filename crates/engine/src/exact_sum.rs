//! `tablero_sum(x)` and `tablero_sum_parts(x)`: the exact sum of floats as DataFusion
//! aggregates, so that the same rows give the same bits however they are split — among
//! partitions and threads, between a daily rollup and the rows of as-of's day, between a
//! kept rollup and a fresh one, in a shared pass or alone. A float sum (`SUM`) rounds after
//! every addition, so its last digits depend on the order the rows arrive in; this one keeps
//! the sum exact ([`ExactSum`]) and rounds it once, when it is read.
//!
//! `tablero_sum` gives the sum rounded to a float; `tablero_sum_parts` gives it unrounded, as a
//! list of floats whose exact sum it is (what a rollup keeps per day). Both take floats or such
//! lists, so a sum of rollup days is exactly the sum of their rows. Nulls are ignored, and the
//! sum of no value is null, as `SUM`'s; an infinity or NaN among the values is the sum, as in a
//! float sum; a zero sum is +0. The state between partial and final aggregation is that same
//! list, merged exactly.
//!
//! The average of the lowerings is this sum over the count of values ([`avg`]), one division
//! of two exact results. Only the DataFusion lowering uses these; a statement sent to
//! PostgreSQL (`sql`) sums with the database's own `SUM`.

mod expansion;

pub use expansion::ExactSum;

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, ListArray, ListBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::functions::expr_fn::nullif;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, GroupsAccumulator, Signature,
    Volatility, lit,
};

/// What a sum gives: the float nearest to it, or the sum itself as floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    Rounded,
    Parts,
}

/// The aggregate giving `output`.
pub fn udaf(output: Output) -> AggregateUDF {
    AggregateUDF::new_from_impl(Sum {
        signature: Signature::any(1, Volatility::Immutable),
        output,
    })
}

/// The exact sum of `x` (floats, or lists of floats), rounded once.
pub fn sum(x: Expr) -> Expr {
    udaf(Output::Rounded).call(vec![x])
}

/// The exact sum of `x` unrounded: a list of floats (see the module documentation).
pub fn parts(x: Expr) -> Expr {
    udaf(Output::Parts).call(vec![x])
}

/// The average of `x` (floats): the exact sum over the count of values, null when there is
/// none. Each aggregate is given to `only` (a shared pass's filter for the leaf, or nothing).
pub fn avg(
    x: Expr,
    only: &dyn Fn(Expr) -> datafusion::common::Result<Expr>,
) -> datafusion::common::Result<Expr> {
    let n = datafusion::logical_expr::cast(only(count(x.clone()))?, DataType::Float64);
    Ok(only(sum(x))? / nullif(n, lit(0.0)))
}

/// The type of a sum's parts: a list of floats.
pub fn parts_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Sum {
    signature: Signature,
    output: Output,
}

impl AggregateUDFImpl for Sum {
    fn name(&self) -> &str {
        match self.output {
            Output::Rounded => "tablero_sum",
            Output::Parts => "tablero_sum_parts",
        }
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
        Ok(Box::new(One {
            sum: ExactSum::new(),
            output: self.output,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "parts"),
            parts_type(),
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Sums {
            sums: Vec::new(),
            output: self.output,
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

/// The values of an argument: floats (other numbers cast), or lists of floats — a row's
/// values are then its list's non-null items.
pub(crate) enum Addends {
    Floats(Float64Array),
    Lists(ListArray),
}

impl Addends {
    pub(crate) fn of(array: &ArrayRef) -> Result<Addends> {
        Ok(match array.data_type() {
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                Addends::Lists(cast(array, &parts_type())?.as_list::<i32>().clone())
            }
            _ => Addends::Floats(
                cast(array, &DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            ),
        })
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Addends::Floats(x) => x.len(),
            Addends::Lists(l) => l.len(),
        }
    }

    /// Whether row `row` holds a value (a list: any list, even empty or of nulls only — it
    /// adds nothing then).
    pub(crate) fn is_valid(&self, row: usize) -> bool {
        match self {
            Addends::Floats(x) => x.is_valid(row),
            Addends::Lists(l) => l.is_valid(row),
        }
    }

    /// Adds the values of row `row` to `sum`.
    #[inline]
    pub(crate) fn add_row(&self, row: usize, sum: &mut ExactSum) {
        match self {
            Addends::Floats(x) => {
                if x.is_valid(row) {
                    sum.add(x.value(row));
                }
            }
            Addends::Lists(l) => {
                if l.is_valid(row) {
                    let offsets = l.value_offsets();
                    let (from, to) = (offsets[row] as usize, offsets[row + 1] as usize);
                    let items = l.values().as_primitive::<Float64Type>();
                    for i in from..to {
                        if items.is_valid(i) {
                            sum.add(items.value(i));
                        }
                    }
                }
            }
        }
    }

    /// Each row as a list of floats (a one-row sum's parts), null where `keep` says no or
    /// the row is null.
    pub(crate) fn as_lists(&self, keep: &dyn Fn(usize) -> bool) -> ArrayRef {
        let mut lists = ListBuilder::with_capacity(Float64Builder::new(), self.len());
        for row in 0..self.len() {
            if !keep(row) || !self.is_valid(row) {
                lists.append_null();
                continue;
            }
            match self {
                Addends::Floats(x) => lists.values().append_value(x.value(row)),
                Addends::Lists(l) => {
                    let offsets = l.value_offsets();
                    let items = l.values().as_primitive::<Float64Type>();
                    for i in offsets[row] as usize..offsets[row + 1] as usize {
                        lists
                            .values()
                            .append_option(items.is_valid(i).then(|| items.value(i)));
                    }
                }
            }
            lists.append(true);
        }
        Arc::new(lists.finish())
    }
}

/// Whether row `row` passes an aggregate's `FILTER` (all do without one).
pub(crate) fn kept(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

/// Sums as `output` asks: floats (null for no value), or lists of parts.
pub(crate) fn output<'a>(
    output: Output,
    sums: impl ExactSizeIterator<Item = &'a ExactSum>,
) -> ArrayRef {
    match output {
        Output::Rounded => Arc::new(sums.map(ExactSum::value).collect::<Float64Array>()),
        Output::Parts => parts_array(sums),
    }
}

/// Sums as lists of parts (null for no value).
pub(crate) fn parts_array<'a>(sums: impl ExactSizeIterator<Item = &'a ExactSum>) -> ArrayRef {
    let mut lists = ListBuilder::with_capacity(Float64Builder::new(), sums.len());
    for sum in sums {
        match sum.encoded() {
            Some(parts) => {
                lists.values().append_slice(&parts);
                lists.append(true);
            }
            None => lists.append_null(),
        }
    }
    Arc::new(lists.finish())
}

/// One sum per group.
#[derive(Debug)]
struct Sums {
    sums: Vec<ExactSum>,
    output: Output,
}

impl Sums {
    fn add(
        &mut self,
        values: &[ArrayRef],
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total: usize,
    ) -> Result<()> {
        let [x] = values else {
            return exec_err!("tablero_sum: one argument expected");
        };
        if self.sums.len() < total {
            self.sums.resize_with(total, ExactSum::new);
        }
        match Addends::of(x)? {
            // The common case, without a check per row.
            Addends::Floats(x) if x.null_count() == 0 && filter.is_none() => {
                for (&x, &g) in x.values().iter().zip(groups) {
                    self.sums[g].add(x);
                }
            }
            addends => {
                for (row, &g) in groups.iter().enumerate() {
                    if kept(filter, row) {
                        addends.add_row(row, &mut self.sums[g]);
                    }
                }
            }
        }
        Ok(())
    }
}

impl GroupsAccumulator for Sums {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.add(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let sums = emit_to.take_needed(&mut self.sums);
        Ok(output(self.output, sums.iter()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let sums = emit_to.take_needed(&mut self.sums);
        Ok(vec![parts_array(sums.iter())])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        // A state is a list of floats whose exact sum is the partial sum: added as values.
        self.add(values, group_indices, None, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let [x] = values else {
            return exec_err!("tablero_sum: one argument expected");
        };
        Ok(vec![Addends::of(x)?.as_lists(&|row| kept(opt_filter, row))])
    }

    /// Called once per batch: the parts are estimated (a few per sum) rather than counted.
    fn size(&self) -> usize {
        self.sums.capacity() * (size_of::<ExactSum>() + 4 * size_of::<f64>())
    }
}

/// The aggregate without grouping: one sum.
#[derive(Debug)]
struct One {
    sum: ExactSum,
    output: Output,
}

impl Accumulator for One {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [x] = values else {
            return exec_err!("tablero_sum: one argument expected");
        };
        let addends = Addends::of(x)?;
        for row in 0..addends.len() {
            addends.add_row(row, &mut self.sum);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&output(self.output, std::iter::once(&self.sum)), 0)
    }

    fn size(&self) -> usize {
        size_of::<One>() + self.sum.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::try_from_array(
            &parts_array(std::iter::once(&self.sum)),
            0,
        )?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }
}

#[cfg(test)]
mod tests;
