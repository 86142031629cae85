//! The DataFusion lowering of a [`KpiPlan`](crate::plan::KpiPlan): files, the store.
//!
//! A KPI over a list of periods becomes one plan. Every leaf is the source's rows, filtered,
//! given the index of their time window (a sorted lookup of the row's time among the window
//! boundaries, [`crate::window_index`]; overlapping windows through an equality join from
//! elementary segments to windows), grouped by period index and dimension — or a leaf's
//! result computed in a database or on a cluster. Only aggregates, equality joins and scalar
//! functions: no window function and no join on a range, so a cluster runs every leaf.
//! The leaves are left-joined onto the grid of periods × dimension values, and the formula's
//! arithmetic becomes one projection over their columns. Everything stays relational, so the
//! plan can be printed as SQL (`explain`); databases get their own lowering (`sql`).
//!
//! Floats are summed exactly and rounded once ([`crate::exact_sum`]: sums, averages, the sums
//! at a snapshot's point, group functions' sums), so a value's digits do not depend on how
//! rows were split among partitions or read from a rollup; counts are summed as integers.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, NullEquality, ScalarValue};
use datafusion::functions::expr_fn::{abs, ceil, coalesce, floor, greatest, least, nullif, round};
// DataFusion's `sum` only for integers (exact); floats through `exact_sum`.
use datafusion::functions_aggregate::expr_fn::{
    array_agg, count, count_distinct, max, median, min, sum as integer_sum,
};
use datafusion::functions_nested::expr_fn::{
    array_element, array_slice, array_sort, array_sum, cardinality,
};
use std::ops::Not;

use datafusion::logical_expr::{
    Expr, ExprFunctionExt, JoinType, LogicalPlan, LogicalPlanBuilder, case, cast, col, lit, when,
};
use jiff::Timestamp;
use tablero_calendar::Calendar;
use tablero_formula::ir::*;
use tablero_model::ActiveAt;

use crate::error::{EngineError, Result};
use crate::exact_sum;
use crate::plan::{Cond, KpiPlan, Leaf, Value};
use crate::window_index;

pub const IDX: &str = "__idx";
pub const DIM: &str = "__dim";
pub const VALUE: &str = "value";
pub(crate) const T: &str = "__t";
/// The `per` group of a group function (`max(m per col)`).
pub(crate) const G: &str = "__g";
pub const V: &str = "__v";
/// The `per:` entity of a `last`/`first` measure.
pub(crate) const E: &str = "__e";
/// The latest (earliest) time point of a `last` (`first`) measure's window, per entity.
const POINT: &str = "__point";
/// A group's values, sorted (percentiles, `top`).
const XS: &str = "__xs";
/// A row's elementary segment of overlapping windows, and the segment column of the table
/// mapping segments to windows (see [`windowed`]).
const SEG: &str = "__seg";
const MAP_SEG: &str = "__mseg";

/// Where a leaf's rows come from in the DataFusion plan.
pub enum LeafInput {
    /// The source's rows, scanned: the leaf is lowered onto them.
    Scan(LogicalPlan),
    /// The leaf's result computed elsewhere (a database): columns `__idx`, `__dim` under
    /// `--by`, and `__v`.
    Result(LogicalPlan),
}

/// Lowers `plan` to one DataFusion plan: columns `__idx` (position in the periods), `__dim`
/// when grouping by a dimension, and `value`. `input` gives each leaf's rows.
pub fn lower(
    calendar: &Calendar,
    plan: &KpiPlan,
    input: &mut dyn FnMut(usize, &Leaf) -> Result<LeafInput>,
) -> Result<LogicalPlan> {
    let idx_rows: Vec<Vec<Expr>> = (0..plan.periods.len() as i64)
        .map(|i| vec![lit(i).alias(IDX)])
        .collect();
    let mut grid = rows_table(idx_rows)?;
    let by = plan.by.as_deref();
    let mut plans = Vec::new();
    for (j, leaf) in plan.leaves.iter().enumerate() {
        let lowered = match input(j, leaf)? {
            LeafInput::Scan(scan) => leaf_plan(calendar, plan, leaf, scan)?,
            LeafInput::Result(rows) => LogicalPlanBuilder::from(rows),
        };
        plans.push(lowered.alias(format!("l{j}"))?.build()?);
    }
    if by.is_some() {
        // Every dimension value seen in any leaf, for every period.
        let mut dims: Option<LogicalPlanBuilder> = None;
        for plan in &plans {
            let b = LogicalPlanBuilder::from(plan.clone())
                .project(vec![col(Column::new_unqualified(DIM)).alias(DIM)])?;
            dims = Some(match dims {
                None => b,
                Some(d) => d.union(b.build()?)?,
            });
        }
        // Grouping rather than DISTINCT, and aliases, make the unparser write derived tables
        // (`(SELECT … GROUP BY …) AS dims`, `… AS grid`) instead of folding them into the outer
        // SELECT, where `grid.__dim` would name nothing.
        if let Some(dims) = dims {
            let dims = dims.aggregate(vec![col(DIM)], Vec::<Expr>::new())?;
            grid = grid.cross_join(dims.alias("dims")?.build()?)?;
        } else {
            grid = grid.cross_join(
                rows_table(vec![vec![lit(ScalarValue::Utf8(None)).alias(DIM)]])?.build()?,
            )?;
        }
        grid = grid.aggregate(vec![col(IDX), col(DIM)], Vec::<Expr>::new())?;
    }
    let mut grid = grid.alias("grid")?;
    for (j, leaf_plan) in plans.into_iter().enumerate() {
        let l = format!("l{j}");
        let mut left_keys = vec![Column::new(Some("grid"), IDX)];
        let mut right_keys = vec![Column::new(Some(l.as_str()), IDX)];
        if by.is_some() {
            left_keys.push(Column::new(Some("grid"), DIM));
            right_keys.push(Column::new(Some(l.as_str()), DIM));
        }
        grid = grid.join_detailed(
            leaf_plan,
            JoinType::Left,
            (left_keys, right_keys),
            None,
            NullEquality::NullEqualsNull,
        )?;
    }
    let mut out = vec![col(Column::new(Some("grid"), IDX)).alias(IDX)];
    if by.is_some() {
        out.push(col(Column::new(Some("grid"), DIM)).alias(DIM));
    }
    out.push(value_expr(plan, &plan.value)?.alias(VALUE));
    // No ORDER BY: the caller keys the few result rows by period and dimension itself.
    Ok(grid.project(out)?.build()?)
}

/// One leaf lowered onto its source's scan, alone: columns `__idx`, `__dim` under `--by`,
/// `__v` (for running it somewhere else than the assembly, such as a cluster).
pub fn lower_leaf(
    calendar: &Calendar,
    plan: &KpiPlan,
    leaf: &Leaf,
    scan: LogicalPlan,
) -> Result<LogicalPlan> {
    Ok(leaf_plan(calendar, plan, leaf, scan)?.build()?)
}

/// The value of leaf `j` after the join, with its empty value.
fn leaf_value(j: usize, leaf: &Leaf) -> Expr {
    let v = col(Column::new(Some(format!("l{j}")), V));
    if leaf.zero_when_empty() {
        coalesce(vec![v, lit(0.0)])
    } else {
        v
    }
}

fn value_expr(plan: &KpiPlan, value: &Value) -> Result<Expr> {
    let sub = |x: &Value| value_expr(plan, x);
    let many = |xs: &[Value]| xs.iter().map(sub).collect::<Result<Vec<_>>>();
    Ok(match value {
        Value::Number(n) => lit(*n),
        Value::Null => lit(ScalarValue::Float64(None)),
        Value::Leaf(j) => {
            let leaf = plan
                .leaves
                .get(*j)
                .ok_or_else(|| EngineError::Internal(format!("plan has no leaf {j}")))?;
            leaf_value(*j, leaf)
        }
        Value::Neg(x) => Expr::Negative(Box::new(sub(x)?)),
        Value::Arith(op, a, b) => arith(*op, sub(a)?, sub(b)?),
        Value::If(c, a, b) => when(cond_expr(plan, c)?, sub(a)?).otherwise(sub(b)?)?,
        Value::Coalesce(xs) => coalesce(many(xs)?),
        Value::Least(xs) => least(many(xs)?),
        Value::Greatest(xs) => greatest(many(xs)?),
        Value::Abs(x) => abs(sub(x)?),
        Value::Round(x, n) => round(vec![sub(x)?, lit(*n as i64)]),
    })
}

fn cond_expr(plan: &KpiPlan, c: &Cond) -> Result<Expr> {
    Ok(match c {
        Cond::Constant(b) => lit(*b),
        Cond::Compare(op, a, b) => compare(*op, value_expr(plan, a)?, value_expr(plan, b)?),
        Cond::And(a, b) => cond_expr(plan, a)?.and(cond_expr(plan, b)?),
        Cond::Or(a, b) => cond_expr(plan, a)?.or(cond_expr(plan, b)?),
        Cond::Not(a) => cond_expr(plan, a)?.not(),
        Cond::IsNull(x, negated) => {
            let x = value_expr(plan, x)?;
            if *negated {
                x.is_not_null()
            } else {
                x.is_null()
            }
        }
    })
}

/// Division by zero is null, never infinity or NaN (SPEC §3). The divisor appears once: a
/// `CASE b WHEN 0 …` repeating it doubled the expression at each nested division, so a
/// `where` of forty `1/(1/(…))` asked for 2⁴⁰ nodes.
fn arith(op: ArithOp, a: Expr, b: Expr) -> Expr {
    match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / nullif(b, lit(0.0)),
    }
}

fn compare(op: CmpOp, a: Expr, b: Expr) -> Expr {
    match op {
        CmpOp::Eq => a.eq(b),
        CmpOp::NotEq => a.not_eq(b),
        CmpOp::Lt => a.lt(b),
        CmpOp::LtEq => a.lt_eq(b),
        CmpOp::Gt => a.gt(b),
        CmpOp::GtEq => a.gt_eq(b),
    }
}

/// The name under which a scan of files (Parquet, a store table) keeps the stored column
/// behind a `date` or `timestamp` column ([`crate::load`]), for [`stored_range`].
pub(crate) fn stored_name(column: &str) -> String {
    format!("__stored_{column}")
}

/// The range `[lo, hi)` of instants in `time` as a condition on the stored column behind it,
/// a day wider on each side, when the scan has one. DataFusion cannot see through the
/// conversion of a stored local time into an instant, so without this it reads every row
/// group and file; with it, in the stored column's own type, it skips those whose statistics
/// lie outside the range. The exact condition on `time` is kept beside it.
pub(crate) fn stored_range(
    calendar: &Calendar,
    scan: &datafusion::common::DFSchema,
    time: &str,
    (lo, hi): (Timestamp, Timestamp),
) -> Option<Expr> {
    use datafusion::arrow::datatypes::TimeUnit;
    let name = stored_name(time);
    let field = scan.field_with_unqualified_name(&name).ok()?;
    let day = jiff::SignedDuration::from_hours(24);
    // Local times are stored as what the calendar reads: a day's slack covers any offset.
    let wall_as_utc = |t: Timestamp, slack: jiff::SignedDuration| {
        let wall = t
            .to_zoned(calendar.time_zone().clone())
            .datetime()
            .checked_add(slack)
            .ok()?;
        wall.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    };
    let timestamp = |t: Timestamp, unit: &TimeUnit, zone: Option<std::sync::Arc<str>>| {
        let micros = t.as_microsecond();
        Some(match unit {
            TimeUnit::Second => {
                ScalarValue::TimestampSecond(Some(micros.div_euclid(1_000_000)), zone)
            }
            TimeUnit::Millisecond => {
                ScalarValue::TimestampMillisecond(Some(micros.div_euclid(1_000)), zone)
            }
            TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(micros), zone),
            TimeUnit::Nanosecond => {
                ScalarValue::TimestampNanosecond(Some(micros.checked_mul(1_000)?), zone)
            }
        })
    };
    let bound = |t: Timestamp, slack: jiff::SignedDuration| -> Option<ScalarValue> {
        match field.data_type() {
            DataType::Date32 => {
                let days = wall_as_utc(t, slack)?.as_second().div_euclid(86_400);
                Some(ScalarValue::Date32(Some(i32::try_from(days).ok()?)))
            }
            DataType::Timestamp(unit, None) => timestamp(wall_as_utc(t, slack)?, unit, None),
            DataType::Timestamp(unit, Some(zone)) => {
                timestamp(t.checked_add(slack).ok()?, unit, Some(zone.clone()))
            }
            _ => None,
        }
    };
    let stored = || col(Column::from_name(name.clone()));
    let low = bound(lo, -day).map(|b| stored().gt_eq(lit(b)));
    let high = bound(hi, day).map(|b| stored().lt_eq(lit(b)));
    low.into_iter().chain(high).reduce(Expr::and)
}

pub(crate) fn micros(t: Timestamp) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(t.as_microsecond()),
        None,
    ))
}

/// A small constant table as a union of one-row selects: unlike VALUES, it unparses to SQL.
fn rows_table(rows: Vec<Vec<Expr>>) -> Result<LogicalPlanBuilder> {
    let mut table: Option<LogicalPlanBuilder> = None;
    for row in rows {
        let one = LogicalPlanBuilder::empty(true).project(row)?;
        table = Some(match table {
            None => one,
            Some(t) => t.union(one.build()?)?,
        });
    }
    table.ok_or_else(|| EngineError::Internal("an empty constant table".into()))
}

/// A constant table of `rows` (literals) with columns `names`, as one VALUES list: one
/// partition however many rows, which a cluster ships whole with the plan.
fn values_table(names: &[&str], rows: Vec<Vec<Expr>>) -> Result<LogicalPlanBuilder> {
    let columns: Vec<Expr> = names
        .iter()
        .enumerate()
        .map(|(i, name)| col(format!("column{}", i + 1)).alias(*name))
        .collect();
    Ok(LogicalPlanBuilder::values(rows)?.project(columns)?)
}

/// `plan` with its constant VALUES tables written as unions of one-row selects, the form the
/// SQL unparser prints (it has no VALUES); for showing a plan as SQL, not for running it.
pub fn printable(plan: LogicalPlan) -> Result<LogicalPlan> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    let rewritten = plan.transform_up(|node| {
        let LogicalPlan::Values(values) = &node else {
            return Ok(Transformed::no(node));
        };
        let names: Vec<String> = values
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let rows = values
            .values
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&names)
                    .map(|(e, name)| e.clone().alias(name))
                    .collect()
            })
            .collect();
        let table = rows_table(rows).map_err(|e| {
            datafusion::error::DataFusionError::Plan(format!("a constant table: {e}"))
        })?;
        Ok(Transformed::yes(table.build()?))
    })?;
    Ok(rewritten.data)
}

/// The continuous percentile `p` of `__x` per group of `keys`, exactly: sort each group's
/// values, take position `p·(n−1)` and interpolate linearly between its two neighbours.
/// The values are collected and sorted per group (as a median is), not ranked by a window
/// function, which a cluster does not run well.
fn percentile(rows: LogicalPlanBuilder, keys: Vec<Expr>, p: f64) -> Result<LogicalPlanBuilder> {
    let x = cast(col("__x"), DataType::Float64);
    let sorted = array_sort(array_agg(x), lit("ASC"), lit("NULLS LAST")).alias(XS);
    let n = cast(cardinality(col(XS)), DataType::Float64);
    let pos = || lit(p) * (n.clone() - lit(1.0));
    // Arrays count from 1.
    let at = |i: Expr| array_element(col(XS), cast(i, DataType::Int64) + lit(1_i64));
    let frac = pos() - floor(pos());
    let value = at(floor(pos())) * (lit(1.0) - frac.clone()) + at(ceil(pos())) * frac;
    let mut columns: Vec<Expr> = keys.clone();
    columns.push(value.alias(V));
    Ok(rows
        .filter(col("__x").is_not_null())?
        .aggregate(keys, vec![sorted])?
        .project(columns)?)
}

/// A column of the source by exact name (no parsing of dots).
pub(crate) fn column(name: &str) -> Expr {
    col(Column::from_name(name))
}

pub fn row_expr(calendar: &Calendar, e: &RowExpr) -> Expr {
    let num = |x: &RowExpr| cast(row_expr(calendar, x), DataType::Float64);
    match e {
        RowExpr::Column { name, .. } => column(name),
        RowExpr::Number(n) => lit(*n),
        RowExpr::String(s) => lit(s.clone()),
        RowExpr::Boolean(b) => lit(*b),
        RowExpr::Date(d) => micros(calendar.date_start(*d)),
        RowExpr::Null => lit(ScalarValue::Null),
        RowExpr::Neg(x) => Expr::Negative(Box::new(num(x))),
        RowExpr::Not(x) => row_expr(calendar, x).not(),
        RowExpr::Arith(op, a, b) => arith(*op, num(a), num(b)),
        RowExpr::Compare(op, a, b) => compare(*op, row_expr(calendar, a), row_expr(calendar, b)),
        RowExpr::And(a, b) => row_expr(calendar, a).and(row_expr(calendar, b)),
        RowExpr::Or(a, b) => row_expr(calendar, a).or(row_expr(calendar, b)),
        RowExpr::InList {
            expr,
            list,
            negated,
        } => row_expr(calendar, expr).in_list(
            list.iter().map(|x| row_expr(calendar, x)).collect(),
            *negated,
        ),
        RowExpr::IsNull { expr, negated } => {
            let x = row_expr(calendar, expr);
            if *negated {
                x.is_not_null()
            } else {
                x.is_null()
            }
        }
        RowExpr::Between { unit, from, to } => {
            let micros_of = |x: &RowExpr| {
                cast(
                    cast(row_expr(calendar, x), DataType::Int64),
                    DataType::Float64,
                )
            };
            let elapsed = (micros_of(to) - micros_of(from)) / lit(unit.seconds() * 1e6);
            // Two dates are local midnights: across a DST change they are a whole number of
            // civil days apart, not 28.96 of elapsed time.
            if is_date(from) && is_date(to) {
                round(vec![elapsed, lit(0_i64)])
            } else {
                elapsed
            }
        }
    }
}

/// The rows of a leaf (its time in `__t`, already within [`Leaf::time_range`]) given the
/// index of their window in `__idx`. When the windows follow each other, the index is the
/// number of window starts (after the first) at or before the time, by a sorted lookup; when
/// they overlap or leave gaps, the row's elementary segment is found that way and an equality
/// join with the small `(segment, window)` table gives a row once per window holding it (and
/// drops a row in none). No join on a range: it runs the same on one machine and on a cluster.
pub(crate) fn windowed(rows: LogicalPlanBuilder, leaf: &Leaf) -> Result<LogicalPlanBuilder> {
    let mut columns: Vec<Expr> = rows.schema().columns().into_iter().map(col).collect();
    if leaf.contiguous() {
        let starts: Vec<Timestamp> = leaf.windows[1..].iter().map(|w| w.0).collect();
        columns.push(window_index::call(col(T), &starts).alias(IDX));
        return Ok(rows.project(columns)?);
    }
    let (boundaries, mut pairs) = leaf.segments();
    // Rows are before the last boundary: the first and the last bound nothing inside.
    let inner = boundaries
        .get(1..boundaries.len().saturating_sub(1))
        .unwrap_or(&[]);
    columns.push(window_index::call(col(T), inner).alias(SEG));
    if pairs.is_empty() {
        // Only empty windows: a pair no segment number matches keeps the table well formed.
        pairs.push((usize::MAX >> 1, 0));
    }
    let map = values_table(
        &[MAP_SEG, IDX],
        pairs
            .into_iter()
            .map(|(k, i)| vec![lit(k as i64), lit(i as i64)])
            .collect(),
    )?
    .build()?;
    Ok(rows
        .project(columns)?
        .join(map, JoinType::Inner, (vec![SEG], vec![MAP_SEG]), None)?)
}

fn is_date(e: &RowExpr) -> bool {
    matches!(
        e,
        RowExpr::Date(_)
            | RowExpr::Column {
                ty: tablero_model::ColumnType::Date,
                ..
            }
    )
}

fn leaf_plan(
    calendar: &Calendar,
    plan: &KpiPlan,
    leaf: &Leaf,
    scan: LogicalPlan,
) -> Result<LogicalPlanBuilder> {
    let a = &leaf.aggregate;
    let (lo, hi) = leaf.time_range(plan.as_of);
    let mut filters: Vec<Expr> = leaf.filters().map(|f| row_expr(calendar, f)).collect();
    // Rows without a `per` value belong to no group (an invoice with no client is not a client).
    if let Some(g) = &a.group {
        filters.push(column(&g.column).is_not_null());
    }
    let as_of = micros(plan.as_of);
    let rows = LogicalPlanBuilder::from(scan);
    let dim = plan
        .by
        .as_deref()
        .map(|d| cast(column(d), DataType::Utf8).alias(DIM));
    let value = a.value.as_ref().map(|v| row_expr(calendar, v));
    let group = a
        .group
        .as_ref()
        // Grouped by the column's own type: the groups are only counted and compared, and
        // casting every row to text cost more than the grouping (profile, 10 M rows).
        .map(|g| column(&g.column).alias(G));

    // Keys every grouping carries: the period index, then the dimension and the `per` group.
    let mut keys = vec![col(IDX)];
    if dim.is_some() {
        keys.push(col(DIM));
    }
    if group.is_some() {
        keys.push(col(G));
    }

    let mut projection = vec![];
    projection.extend(dim.clone());
    projection.extend(group.clone());

    let grouped = if let CheckedAgg::Active { start, end, at } = &a.agg {
        // Active at an instant x: start <= x < end (a null end is still open); nothing after as-of is known.
        let s = column(start);
        let e = column(end);
        let mut f = s.clone().is_not_null().and(s.clone().lt(as_of.clone()));
        for extra in filters {
            f = f.and(extra);
        }
        projection.push(s.alias("__s"));
        projection.push(e.alias("__e"));
        let scan = rows.filter(f)?.project(projection)?;
        active(plan, leaf, *at, scan, &keys, lit(1_i64))?
    } else {
        let t = column(&a.time);
        let mut f = t
            .clone()
            .is_not_null()
            .and(t.clone().gt_eq(micros(lo)))
            .and(t.clone().lt(micros(hi)));
        if let Some(stored) = stored_range(calendar, rows.schema(), &a.time, (lo, hi)) {
            f = f.and(stored);
        }
        for extra in filters {
            f = f.and(extra);
        }
        projection.push(t.alias(T));
        if let Some(v) = value {
            projection.push(v.alias("__x"));
        }
        let entity = match &a.agg {
            CheckedAgg::Last { per } | CheckedAgg::First { per } => per.as_deref(),
            _ => None,
        };
        if let Some(per) = entity {
            projection.push(column(per).alias(E));
        }
        let scan = rows.filter(f)?.project(projection)?;
        let joined = windowed(scan, leaf)?;
        let x = || col("__x");
        let fx = || cast(col("__x"), DataType::Float64);
        match &a.agg {
            CheckedAgg::Last { .. } | CheckedAgg::First { .. } => {
                // Semi-additive: the sum of the rows at the latest (earliest) time point of the
                // window — with `per`, at each entity's own latest (earliest) point, so an
                // entity without a snapshot at the window's last point still counts. The point
                // is a grouped max (min) joined back to the rows on equality: plain SQL, no
                // ordered aggregate and no window function (a cluster runs neither well).
                let mut partition = vec![IDX];
                partition.extend(dim.as_ref().map(|_| DIM));
                partition.extend(group.as_ref().map(|_| G));
                partition.extend(entity.map(|_| E));
                let extreme = match a.agg {
                    CheckedAgg::First { .. } => min(col(T)),
                    _ => max(col(T)),
                };
                let side = |table: &str, name: &str| Column::new(Some(table), name);
                let points = joined
                    .clone()
                    .aggregate(
                        partition.iter().map(|c| col(*c)).collect::<Vec<_>>(),
                        vec![extreme.alias(POINT)],
                    )?
                    .alias("__points")?
                    .build()?;
                let mut left: Vec<Column> = partition.iter().map(|c| side("__rows", c)).collect();
                let mut right: Vec<Column> =
                    partition.iter().map(|c| side("__points", c)).collect();
                left.push(side("__rows", T));
                right.push(side("__points", POINT));
                let outer: Vec<Expr> = partition[..keys.len()]
                    .iter()
                    .map(|c| col(side("__rows", c)))
                    .collect();
                let sum_x = exact_sum::sum(cast(col(side("__rows", "__x")), DataType::Float64));
                joined
                    .alias("__rows")?
                    .join_detailed(
                        points,
                        JoinType::Inner,
                        (left, right),
                        None,
                        NullEquality::NullEqualsNull,
                    )?
                    .aggregate(outer, vec![sum_x.alias(V)])?
            }
            agg => {
                let measure = match agg {
                    CheckedAgg::Count => match &a.value {
                        Some(_) => cast(count(x()), DataType::Float64),
                        None => cast(count(lit(1)), DataType::Float64),
                    },
                    CheckedAgg::CountDistinct => cast(count_distinct(x()), DataType::Float64),
                    CheckedAgg::Sum => exact_sum::sum(fx()),
                    CheckedAgg::Avg => exact_sum::avg(fx(), &Ok)?,
                    CheckedAgg::Min => min(fx()),
                    CheckedAgg::Max => max(fx()),
                    CheckedAgg::Median => median(fx()),
                    CheckedAgg::Percentile(p) => return percentile(joined, keys, *p),
                    CheckedAgg::Last { .. }
                    | CheckedAgg::First { .. }
                    | CheckedAgg::Active { .. } => {
                        return Err(EngineError::Internal("unreachable aggregation".into()));
                    }
                };
                joined.aggregate(keys.clone(), vec![measure.alias(V)])?
            }
        }
    };

    match &a.group {
        Some(g) => per_group(plan, g, grouped),
        None => Ok(grouped),
    }
}

/// A group function (`max(m per col)`, SPEC §3) over `grouped`, a leaf's value per period,
/// dimension and group (columns `__idx`, `__dim` under `--by`, `__g`, `__v`): one value per
/// period and dimension.
pub(crate) fn per_group(
    plan: &KpiPlan,
    g: &Group,
    grouped: LogicalPlanBuilder,
) -> Result<LogicalPlanBuilder> {
    let mut outer = vec![col(IDX)];
    if plan.by.is_some() {
        outer.push(col(DIM));
    }
    let v = || col(V);
    let result = match g.function {
        GroupFunction::Max => grouped.aggregate(outer, vec![max(v()).alias(V)])?,
        GroupFunction::Min => grouped.aggregate(outer, vec![min(v()).alias(V)])?,
        GroupFunction::Avg => grouped.aggregate(outer, vec![exact_sum::avg(v(), &Ok)?.alias(V)])?,
        GroupFunction::Count => {
            grouped.aggregate(outer, vec![cast(count(v()), DataType::Float64).alias(V)])?
        }
        GroupFunction::Hhi => {
            let total = exact_sum::sum(v());
            let share2 = exact_sum::sum(v() * v());
            let hhi = case(total.clone())
                .when(lit(0.0), lit(ScalarValue::Float64(None)))
                .otherwise(lit(10_000.0) * share2 / (total.clone() * total))?;
            grouped.aggregate(outer, vec![hhi.alias(V)])?
        }
        GroupFunction::Top(n) => {
            // The sum of the `n` largest group values: sorted per period, the first `n` kept and
            // summed in that order — the same order whatever order the groups came in.
            let values = array_agg(v()).filter(v().is_not_null()).build()?;
            let sorted = array_sort(values, lit("DESC"), lit("NULLS LAST")).alias(XS);
            let top = array_slice(col(XS), lit(1_i64), lit(i64::from(n)), None);
            let mut columns = outer.clone();
            columns.push(array_sum(top).alias(V));
            grouped.aggregate(outer, vec![sorted])?.project(columns)?
        }
    };
    Ok(result)
}

/// An `active` measure over intervals (`__s`, `__e` in `intervals`, each counted `weight`
/// times, an integer: 1 for a row, more for a rollup's): per window, the intervals active at
/// its start, its end or both averaged (SPEC §4.2), as columns `keys` and `__v`.
///
/// Active at an instant x: start <= x < end (a null end is still open); nothing after as-of
/// is known, so x is at most as-of. The instants are few (two per window): one grouping by
/// dimension and `per` group counts the intervals active at each, then an equality join on a
/// constant key puts the counts of each window's instants on its row. A window neither of
/// whose instants has an active interval gives no row, as the rows of a join would not. No
/// join on a range: it runs the same on one machine and on a cluster.
pub(crate) fn active(
    plan: &KpiPlan,
    leaf: &Leaf,
    at: ActiveAt,
    intervals: LogicalPlanBuilder,
    keys: &[Expr],
    weight: Expr,
) -> Result<LogicalPlanBuilder> {
    let clamp = |t: Timestamp| t.min(plan.as_of);
    let mut instants: Vec<Timestamp> = leaf.counted_at(plan.as_of).collect();
    instants.sort();
    instants.dedup();
    let number = |t: Timestamp| instants.partition_point(|x| *x < t) as i64;
    let count = |k: usize| format!("__a{k}");
    let counts: Vec<Expr> = instants
        .iter()
        .enumerate()
        .map(|(k, x)| {
            let x = micros(*x);
            let is_active = col("__s")
                .lt_eq(x.clone())
                .and(col("__e").is_null().or(col("__e").gt(x)));
            let counted = when(is_active, weight.clone()).otherwise(lit(0_i64))?;
            Ok(integer_sum(counted).alias(count(k)))
        })
        .collect::<Result<_>>()?;
    let groups: Vec<Expr> = keys[1..].to_vec();
    let mut with_key: Vec<Expr> = groups.clone();
    with_key.extend((0..instants.len()).map(|k| col(count(k))));
    with_key.push(lit(1_i64).alias("__one"));
    let windows = values_table(
        &[IDX, "__ks", "__ke", "__wone"],
        leaf.windows
            .iter()
            .enumerate()
            .map(|(i, (s, e))| {
                vec![
                    lit(i as i64),
                    lit(number(clamp(*s))),
                    lit(number(clamp(*e))),
                    lit(1_i64),
                ]
            })
            .collect(),
    )?
    .build()?;
    // The count at instant number `k` (a column of this row).
    let count_at = |k: &str| -> Result<Expr> {
        let mut choice = case(col(k));
        for i in 0..instants.len() {
            choice = choice.when(lit(i as i64), col(count(i)));
        }
        Ok(cast(choice.otherwise(lit(0_i64))?, DataType::Float64))
    };
    let (start, end) = (count_at("__ks")?, count_at("__ke")?);
    let value = match at {
        ActiveAt::Start => start.clone(),
        ActiveAt::End => end.clone(),
        ActiveAt::Average => (start.clone() + end.clone()) / lit(2.0),
    };
    let mut columns = keys.to_vec();
    columns.push(value.alias(V));
    Ok(intervals
        .aggregate(groups, counts)?
        .project(with_key)?
        .join(
            windows,
            JoinType::Inner,
            (vec!["__one"], vec!["__wone"]),
            None,
        )?
        .filter(start.gt(lit(0.0)).or(end.gt(lit(0.0))))?
        .project(columns)?)
}

/// Whether a leaf can share a pass over its source with others: a plain aggregate of rows in
/// its period windows (no `per` groups, snapshots, intervals or percentiles by window).
pub fn shares_a_pass(leaf: &Leaf) -> bool {
    leaf.aggregate.group.is_none()
        && matches!(
            leaf.aggregate.agg,
            CheckedAgg::Count
                | CheckedAgg::CountDistinct
                | CheckedAgg::Sum
                | CheckedAgg::Avg
                | CheckedAgg::Min
                | CheckedAgg::Max
                | CheckedAgg::Median
        )
}

/// The value column of leaf `j` of a pass.
pub fn pass_value(j: usize) -> String {
    format!("__v{j}")
}

/// The column counting the rows leaf `j` of a pass read (a group without any is not the
/// leaf's).
pub fn pass_rows(j: usize) -> String {
    format!("__n{j}")
}

/// The column saying whether a row is one leaf `j` of a pass reads (its filters hold).
pub fn pass_condition(j: usize) -> String {
    format!("__f{j}")
}

/// Each leaf's filters as its [`pass_condition`] column, and the condition that a row is read
/// by any of them (the rows a pass keeps).
pub fn pass_conditions(calendar: &Calendar, leaves: &[&Leaf]) -> (Vec<Expr>, Expr) {
    let mut any = lit(false);
    let mut conditions = Vec::with_capacity(leaves.len());
    for (j, leaf) in leaves.iter().enumerate() {
        let condition = leaf
            .filters()
            .map(|f| row_expr(calendar, f))
            .reduce(Expr::and)
            .unwrap_or(lit(true));
        conditions.push(condition.alias(pass_condition(j)));
        any = any.or(col(pass_condition(j)));
    }
    (conditions, any)
}

/// The first leaf of a pass, which gives the windows and time column all of them share.
pub(crate) fn first_leaf<'a>(leaves: &[&'a Leaf]) -> Result<&'a Leaf> {
    leaves
        .first()
        .copied()
        .ok_or_else(|| EngineError::Internal("a pass without leaves".into()))
}

/// One pass over a source for several leaves that read it with the same time column and
/// windows: one scan, one period assignment, one grouping by period index (and dimension)
/// with each leaf's aggregate filtered by its own conditions (`FILTER (WHERE …)`). Columns:
/// `__idx`, `__dim` under `--by`, and per leaf `__v{j}` and `__n{j}`.
pub fn pass_plan(
    calendar: &Calendar,
    plan: &KpiPlan,
    leaves: &[&Leaf],
    scan: LogicalPlan,
) -> Result<LogicalPlan> {
    let first = first_leaf(leaves)?;
    let (lo, hi) = first.time_range(plan.as_of);
    let t = column(&first.aggregate.time);
    let mut projection = vec![t.clone().alias(T)];
    if let Some(by) = &plan.by {
        projection.push(cast(column(by), DataType::Utf8).alias(DIM));
    }
    let (conditions, any) = pass_conditions(calendar, leaves);
    projection.extend(conditions);
    for (j, leaf) in leaves.iter().enumerate() {
        if let Some(v) = &leaf.aggregate.value {
            projection.push(row_expr(calendar, v).alias(format!("__x{j}")));
        }
    }
    let mut in_range = t
        .clone()
        .is_not_null()
        .and(t.clone().gt_eq(micros(lo)))
        .and(t.lt(micros(hi)));
    if let Some(stored) = stored_range(calendar, scan.schema(), &first.aggregate.time, (lo, hi)) {
        in_range = in_range.and(stored);
    }
    let rows = LogicalPlanBuilder::from(scan)
        .filter(in_range)?
        .project(projection)?
        .filter(any)?;
    let rows = windowed(rows, first)?;
    let mut keys = vec![col(IDX)];
    if plan.by.is_some() {
        keys.push(col(DIM));
    }
    let mut measures = Vec::new();
    for (j, leaf) in leaves.iter().enumerate() {
        let f = || col(pass_condition(j));
        let x = || col(format!("__x{j}"));
        let fx = || cast(x(), DataType::Float64);
        let a = &leaf.aggregate;
        let measure = match &a.agg {
            CheckedAgg::Count => {
                let counted = match &a.value {
                    Some(_) => count(x()),
                    None => count(lit(1)),
                };
                cast(counted.filter(f()).build()?, DataType::Float64)
            }
            // The builder sets DISTINCT itself (it would drop `count_distinct`'s).
            CheckedAgg::CountDistinct => cast(
                count(x()).distinct().filter(f()).build()?,
                DataType::Float64,
            ),
            CheckedAgg::Sum => exact_sum::sum(fx()).filter(f()).build()?,
            CheckedAgg::Avg => exact_sum::avg(fx(), &|e| e.filter(f()).build())?,
            CheckedAgg::Min => min(fx()).filter(f()).build()?,
            CheckedAgg::Max => max(fx()).filter(f()).build()?,
            CheckedAgg::Median => median(fx()).filter(f()).build()?,
            _ => {
                return Err(EngineError::Internal(
                    "a leaf in a pass that cannot share one".into(),
                ));
            }
        };
        measures.push(measure.alias(pass_value(j)));
        measures.push(count(lit(1)).filter(f()).build()?.alias(pass_rows(j)));
    }
    Ok(rows.aggregate(keys, measures)?.build()?)
}
