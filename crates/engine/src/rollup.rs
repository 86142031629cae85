//! Daily rollups: a source's rows summed up per local day and declared dimensions, so that
//! requests at day grain or coarser read a few thousand rows instead of millions.
//!
//! A rollup belongs to a source and one of its time columns. It is built on first use from
//! the rows the engine has loaded (so it is exactly as fresh as they are: an engine is made
//! again when the data changes), and holds, per day and combination of the source's
//! `dimensions`, the number of rows and, for every measure expression the catalog aggregates
//! decomposably over that time column, the partial results those aggregates merge: the sum
//! and the count of non-null values, the minimum and the maximum.
//!
//! A leaf reads the rollup ([`Rollup::serves`]) when its aggregate is decomposable (`count`,
//! `sum`, `avg` as sum over count, `min`, `max`, with no `per` groups), every filter on it
//! names only declared dimensions, a `--by` dimension is declared, and no window boundary
//! falls inside a day that has rows. The day of the as-of instant is read from the rows
//! themselves: a rollup day holds rows up to its end, and the computation must not see those
//! after as-of. `count_distinct`, `median` and percentiles always read rows.
//!
//! Results are the same with and without rollups (the hand-worked cases run both ways); sums
//! may differ in the last bits of a float, as they are added in another order. The server
//! uses rollups, a one-time `compute` reads rows; `TABLERO_ROLLUPS=on|off` chooses.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use datafusion::common::Column;
use datafusion::datasource::MemTable;
use datafusion::functions::expr_fn::nullif;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, cast, col, lit, when,
};
use datafusion::prelude::SessionContext;
use jiff::Timestamp;
use tablero_calendar::{Calendar, Grain};
use tablero_formula::Catalog;
use tablero_formula::CheckedTarget;
use tablero_formula::ir::{Aggregate, CheckedAgg, Formula, RowExpr};
use tablero_model::Source;

use crate::compile::{
    DIM, IDX, T, column, micros, pass_rows, pass_value, row_expr, stored_range, windowed,
};
use crate::error::{EngineError, Result};
use crate::plan::{KpiPlan, Leaf};

/// The rollup column holding the instant a row's local day starts.
const DAY: &str = "__day";
/// The rows of the source a rollup row sums up.
const ROWS: &str = "__rows";
/// Longest span of days a rollup covers; a source spanning more is read by rows.
const MAX_DAYS: usize = 40_000;

/// The partial-result columns of measure expression `k`.
fn sum_of(k: usize) -> String {
    format!("__s{k}")
}
fn count_of(k: usize) -> String {
    format!("__c{k}")
}
fn min_of(k: usize) -> String {
    format!("__lo{k}")
}
fn max_of(k: usize) -> String {
    format!("__hi{k}")
}

/// Whether an aggregate merges from per-day partial results.
pub fn decomposable(a: &Aggregate) -> bool {
    a.group.is_none()
        && matches!(
            a.agg,
            CheckedAgg::Count
                | CheckedAgg::Sum
                | CheckedAgg::Avg
                | CheckedAgg::Min
                | CheckedAgg::Max
        )
}

/// What a rollup of one source and time column holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub source: String,
    pub time: String,
    /// The source's declared dimensions, the rollup's keys besides the day.
    pub dims: Vec<String>,
    /// Every measure expression aggregated decomposably over `time` in the catalog; each has
    /// the four partial columns (sum, count, min, max; sum, min and max only when numeric).
    pub values: Vec<(RowExpr, bool)>,
}

impl Spec {
    /// The rollup `catalog` needs for `source` over its column `time`.
    pub fn of(catalog: &Catalog, source: &Source, time: &str) -> Spec {
        let mut values: Vec<(RowExpr, bool)> = Vec::new();
        let mut add = |f: &Formula| {
            let Formula::Aggregate(a) = f else { return };
            if a.source != source.name.value || a.time != time || !decomposable(a) {
                return;
            }
            let Some(v) = &a.value else { return };
            let numeric = !matches!(a.agg, CheckedAgg::Count);
            match values.iter_mut().find(|(x, _)| x == v) {
                Some((_, n)) => *n |= numeric,
                None => values.push((v.clone(), numeric)),
            }
        };
        for kpi in catalog.kpis.values() {
            kpi.formula.visit(&mut add);
            if let Some(CheckedTarget::Formula(f)) = &kpi.target {
                f.visit(&mut add);
            }
        }
        Spec {
            source: source.name.value.clone(),
            time: time.to_string(),
            dims: source.dimensions.iter().map(|d| d.value.clone()).collect(),
            values,
        }
    }

    fn value_index(&self, v: &RowExpr) -> Option<usize> {
        self.values.iter().position(|(x, _)| x == v)
    }
}

/// A built rollup, held by the engine.
pub struct Rollup {
    pub spec: Spec,
    /// The local days from the first row's to the last's, by their first instant, and the
    /// end of the last.
    days: Vec<Timestamp>,
    end: Option<Timestamp>,
    /// The latest time of any row.
    last: Option<Timestamp>,
    /// Rows of the rollup, and of the source it sums up.
    pub rows: usize,
    pub source_rows: usize,
    table: Arc<MemTable>,
}

/// Why no rollup serves a source: kept so the engine does not try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRollup {
    /// The rows span more days than [`MAX_DAYS`].
    TooLong,
    /// The rollup would not be much smaller than the rows.
    TooFine,
}

/// Builds the rollup of `spec` over `scan` (the source's rows as the engine loads them).
pub async fn build(
    ctx: &SessionContext,
    calendar: &Calendar,
    spec: Spec,
    scan: LogicalPlan,
) -> Result<std::result::Result<Rollup, NoRollup>> {
    let t = column(&spec.time);
    let timed = LogicalPlanBuilder::from(scan).filter(t.clone().is_not_null())?;
    let bounds = ctx
        .execute_logical_plan(
            timed
                .clone()
                .aggregate(
                    Vec::<Expr>::new(),
                    vec![
                        min(t.clone()).alias("lo"),
                        max(t.clone()).alias("hi"),
                        count(lit(1)).alias("n"),
                    ],
                )?
                .build()?,
        )
        .await?
        .collect()
        .await?;
    let instant = |batch: &RecordBatch, i: usize| -> Option<Timestamp> {
        let c = batch
            .column(i)
            .as_primitive_opt::<datafusion::arrow::datatypes::TimestampMicrosecondType>()?;
        (!c.is_null(0)).then(|| Timestamp::from_microsecond(c.value(0)).ok())?
    };
    let (first, last, source_rows) = match bounds.iter().find(|b| b.num_rows() > 0) {
        Some(b) => (
            instant(b, 0),
            instant(b, 1),
            b.column(2)
                .as_primitive_opt::<Int64Type>()
                .map_or(0, |c| c.value(0) as usize),
        ),
        None => (None, None, 0),
    };
    let mut days = Vec::new();
    if let (Some(first), Some(last)) = (first, last) {
        let mut day = calendar.period_of(Grain::Day, first);
        loop {
            let start = calendar.start(day);
            if start > last {
                break;
            }
            if days.len() == MAX_DAYS {
                return Ok(Err(NoRollup::TooLong));
            }
            days.push(start);
            day = calendar.shift(day, 1);
        }
    }

    let mut projection =
        vec![crate::window_index::call(t, days.get(1..).unwrap_or(&[])).alias(DAY)];
    let mut keys = vec![col(DAY)];
    for d in &spec.dims {
        projection.push(column(d).alias(d.as_str()));
        keys.push(col(Column::from_name(d.as_str())));
    }
    let mut partials = vec![count(lit(1)).alias(ROWS)];
    for (k, (v, numeric)) in spec.values.iter().enumerate() {
        let x = format!("__x{k}");
        projection.push(row_expr(calendar, v).alias(x.as_str()));
        partials.push(count(col(x.as_str())).alias(count_of(k)));
        if *numeric {
            let fx = || cast(col(x.as_str()), DataType::Float64);
            partials.push(sum(fx()).alias(sum_of(k)));
            partials.push(min(fx()).alias(min_of(k)));
            partials.push(max(fx()).alias(max_of(k)));
        }
    }
    let plan = timed
        .project(projection)?
        .aggregate(keys, partials)?
        .build()?;
    let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows > 10_000 && rows.saturating_mul(4) > source_rows {
        return Ok(Err(NoRollup::TooFine));
    }

    // The day's position becomes its first instant.
    let Some(shape) = batches.first().map(RecordBatch::schema) else {
        return Ok(Err(NoRollup::TooFine));
    };
    let mut fields: Vec<Field> = shape.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[0] = Field::new(DAY, DataType::Timestamp(TimeUnit::Microsecond, None), false);
    let schema = Arc::new(Schema::new(fields));
    let mut converted = Vec::with_capacity(batches.len());
    for batch in batches {
        let positions = batch
            .column(0)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| EngineError::Internal("a rollup's day is not a position".into()))?;
        let starts: TimestampMicrosecondArray = positions
            .iter()
            .map(|p| {
                let p = usize::try_from(p?).ok()?;
                days.get(p).map(|d| d.as_microsecond())
            })
            .collect();
        if starts.null_count() > 0 {
            return Err(EngineError::Internal(
                "a rollup row's day is outside the rows' days".into(),
            ));
        }
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[0] = Arc::new(starts);
        converted.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    let mut partitions = vec![Vec::new(), Vec::new()];
    for (i, batch) in converted.into_iter().enumerate() {
        partitions[i % 2].push(batch);
    }
    let table = Arc::new(MemTable::try_new(schema, partitions)?);
    tracing::info!(
        source = %spec.source,
        time = %spec.time,
        rows,
        source_rows,
        "built a daily rollup"
    );
    let end = last.map(|l| calendar.end(calendar.period_of(Grain::Day, l)));
    Ok(Ok(Rollup {
        spec,
        days,
        end,
        last,
        rows,
        source_rows,
        table,
    }))
}

/// The columns a row expression names.
fn columns(e: &RowExpr, out: &mut HashSet<String>) {
    match e {
        RowExpr::Column { name, .. } => {
            out.insert(name.clone());
        }
        RowExpr::Number(_)
        | RowExpr::String(_)
        | RowExpr::Boolean(_)
        | RowExpr::Date(_)
        | RowExpr::Null => {}
        RowExpr::Neg(x) | RowExpr::Not(x) | RowExpr::IsNull { expr: x, .. } => columns(x, out),
        RowExpr::Arith(_, a, b)
        | RowExpr::Compare(_, a, b)
        | RowExpr::And(a, b)
        | RowExpr::Or(a, b)
        | RowExpr::Between { from: a, to: b, .. } => {
            columns(a, out);
            columns(b, out);
        }
        RowExpr::InList { expr, list, .. } => {
            columns(expr, out);
            list.iter().for_each(|x| columns(x, out));
        }
    }
}

impl Rollup {
    /// The first instant of the local day of `t`.
    fn day_start(calendar: &Calendar, t: Timestamp) -> Timestamp {
        calendar.start(calendar.period_of(Grain::Day, t))
    }

    /// Whether this rollup gives `leaf` of `plan` exactly the value its rows would.
    pub fn serves(&self, calendar: &Calendar, plan: &KpiPlan, leaf: &Leaf) -> bool {
        let a = &leaf.aggregate;
        if a.source != self.spec.source || a.time != self.spec.time || !decomposable(a) {
            return false;
        }
        let numeric = !matches!(a.agg, CheckedAgg::Count);
        match &a.value {
            Some(v) => match self.spec.value_index(v) {
                Some(k) if numeric && !self.spec.values[k].1 => return false,
                Some(_) => {}
                None => return false,
            },
            None if numeric => return false,
            None => {}
        }
        if plan
            .by
            .as_ref()
            .is_some_and(|d| !self.spec.dims.contains(d))
        {
            return false;
        }
        let mut named = HashSet::new();
        leaf.filters().for_each(|f| columns(f, &mut named));
        if !named.iter().all(|c| self.spec.dims.contains(c)) {
            return false;
        }
        // A boundary inside a day with rows would split what the rollup keeps whole.
        let (Some(first), Some(end)) = (self.days.first(), self.end) else {
            return true;
        };
        let today = Rollup::day_start(calendar, plan.as_of);
        leaf.windows
            .iter()
            .flat_map(|(s, e)| [*s, *e])
            .all(|b| b <= *first || b >= end || b >= today || Rollup::day_start(calendar, b) == b)
    }

    /// One pass over the rollup for leaves it [`serves`](Rollup::serves) that share their
    /// windows (as [`crate::compile::pass_plan`] over rows, with the same columns): whole
    /// days before as-of's from the rollup, the rows of as-of's own day — when there are any
    /// — from `scan`, the source itself.
    pub fn pass_plan(
        &self,
        calendar: &Calendar,
        plan: &KpiPlan,
        leaves: &[&Leaf],
        scan: LogicalPlan,
    ) -> Result<LogicalPlan> {
        let first = leaves
            .first()
            .ok_or_else(|| EngineError::Internal("a pass without leaves".into()))?;
        let (lo, hi) = first.time_range(plan.as_of);
        let today = Rollup::day_start(calendar, plan.as_of);
        let whole_days_end = hi.min(today);

        // The columns both parts share: the time, the dimensions, the partial results.
        let mut shared: Vec<String> = vec![T.to_string()];
        shared.extend(self.spec.dims.iter().cloned());
        shared.push(ROWS.to_string());
        for (k, (_, numeric)) in self.spec.values.iter().enumerate() {
            shared.push(count_of(k));
            if *numeric {
                shared.extend([sum_of(k), min_of(k), max_of(k)]);
            }
        }
        let from_rollup = {
            let mut p = vec![col(DAY).alias(T)];
            p.extend(
                shared[1..]
                    .iter()
                    .map(|c| col(Column::from_name(c.as_str()))),
            );
            let provider = datafusion::datasource::provider_as_source(self.table.clone());
            LogicalPlanBuilder::scan("__rollup", provider, None)?
                .filter(
                    col(DAY)
                        .gt_eq(micros(lo))
                        .and(col(DAY).lt(micros(whole_days_end))),
                )?
                .project(p)?
        };
        let rows_today = hi > today && self.last.is_some_and(|l| l >= today);
        let input = if rows_today {
            let t = column(&self.spec.time);
            let from = lo.max(today);
            let mut range = t
                .clone()
                .is_not_null()
                .and(t.clone().gt_eq(micros(from)))
                .and(t.clone().lt(micros(hi)));
            if let Some(stored) = stored_range(calendar, scan.schema(), &self.spec.time, (from, hi))
            {
                range = range.and(stored);
            }
            let mut p = vec![t.alias(T)];
            p.extend(self.spec.dims.iter().map(|d| column(d).alias(d.as_str())));
            p.push(lit(1_i64).alias(ROWS));
            for (k, (v, numeric)) in self.spec.values.iter().enumerate() {
                let x = || row_expr(calendar, v);
                p.push(
                    when(x().is_null(), lit(0_i64))
                        .otherwise(lit(1_i64))?
                        .alias(count_of(k)),
                );
                if *numeric {
                    for name in [sum_of(k), min_of(k), max_of(k)] {
                        p.push(cast(x(), DataType::Float64).alias(name));
                    }
                }
            }
            let today_rows = LogicalPlanBuilder::from(scan).filter(range)?.project(p)?;
            from_rollup.union(today_rows.build()?)?
        } else {
            from_rollup
        };

        let mut projection: Vec<Expr> = shared
            .iter()
            .map(|c| col(Column::from_name(c.as_str())))
            .collect();
        if let Some(by) = &plan.by {
            projection.push(cast(column(by), DataType::Utf8).alias(DIM));
        }
        let mut any = lit(false);
        for (j, leaf) in leaves.iter().enumerate() {
            let condition = leaf
                .filters()
                .map(|f| row_expr(calendar, f))
                .reduce(Expr::and)
                .unwrap_or(lit(true));
            projection.push(condition.alias(format!("__f{j}")));
            any = any.or(col(format!("__f{j}")));
        }
        let rows = windowed(input.project(projection)?.filter(any)?, first)?;

        let mut keys = vec![col(IDX)];
        if plan.by.is_some() {
            keys.push(col(DIM));
        }
        let mut measures = Vec::new();
        for (j, leaf) in leaves.iter().enumerate() {
            let f = || col(format!("__f{j}"));
            let a = &leaf.aggregate;
            let k = match &a.value {
                Some(v) => self.spec.value_index(v),
                None => None,
            };
            let partial = |name: &dyn Fn(usize) -> String| -> Result<Expr> {
                let k = k.ok_or_else(|| {
                    EngineError::Internal("a rollup leaf's measure is not in the rollup".into())
                })?;
                Ok(col(Column::from_name(name(k))))
            };
            let total = |e: Expr| sum(e).filter(f()).build();
            let measure = match &a.agg {
                CheckedAgg::Count => match k {
                    Some(_) => cast(total(partial(&count_of)?)?, DataType::Float64),
                    None => cast(total(col(ROWS))?, DataType::Float64),
                },
                CheckedAgg::Sum => total(partial(&sum_of)?)?,
                CheckedAgg::Avg => {
                    let n = cast(total(partial(&count_of)?)?, DataType::Float64);
                    total(partial(&sum_of)?)? / nullif(n, lit(0.0))
                }
                CheckedAgg::Min => min(partial(&min_of)?).filter(f()).build()?,
                CheckedAgg::Max => max(partial(&max_of)?).filter(f()).build()?,
                _ => {
                    return Err(EngineError::Internal(
                        "a leaf the rollup cannot serve".into(),
                    ));
                }
            };
            measures.push(measure.alias(pass_value(j)));
            measures.push(total(col(ROWS))?.alias(pass_rows(j)));
        }
        Ok(rows.aggregate(keys, measures)?.build()?)
    }

    /// What `explain` says of this rollup.
    pub fn describe(&self) -> String {
        let by = if self.spec.dims.is_empty() {
            String::new()
        } else {
            format!(" × {}", self.spec.dims.join(" × "))
        };
        format!(
            "the daily rollup of `{}` by `{}` (day{by}: {} rows for {} source rows)",
            self.spec.source, self.spec.time, self.rows, self.source_rows
        )
    }
}
