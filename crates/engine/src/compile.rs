//! Compiling checked formulas into DataFusion logical plans.
//!
//! A KPI over a list of periods becomes one plan. Every aggregate in its formula (with the
//! periods it must be read at, after `previous`/`year_ago` shifts) is a *leaf*: the source's
//! rows, filtered, joined to a small table of time windows (one row per period: its index and
//! the `[start, end)` instants the aggregate reads), grouped by period index and dimension.
//! The leaves are left-joined onto the grid of periods × dimension values, and the formula's
//! arithmetic becomes one projection over their columns. Everything stays relational, so the
//! plan can be printed as SQL and pushed down to a database.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, NullEquality, ScalarValue};
use datafusion::functions::expr_fn::{abs, ceil, coalesce, floor, greatest, least, nullif, round};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::expr_fn::{avg, count, count_distinct, max, median, min, sum};
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::expr::WindowFunction;
use std::ops::Not;

use datafusion::logical_expr::{
    Expr, ExprFunctionExt, JoinType, LogicalPlan, LogicalPlanBuilder, case, cast, col, lit, when,
};
use jiff::Timestamp;
use tablero_calendar::{Calendar, Period};
use tablero_formula::Catalog;
use tablero_formula::ir::*;
use tablero_model::ActiveAt;

use crate::error::{EngineError, Result};

pub const IDX: &str = "__idx";
pub const DIM: &str = "__dim";
pub const VALUE: &str = "value";
const WS: &str = "__ws";
const WE: &str = "__we";
const T: &str = "__t";
const G: &str = "__g";
const V: &str = "__v";
/// The `per:` entity of a `last`/`first` measure.
const E: &str = "__e";
/// The latest (earliest) time point of a `last` (`first`) measure's window, per entity.
const POINT: &str = "__point";

/// How periods move under a time function: applied to the output period in order.
#[derive(Debug, Clone, PartialEq)]
struct Frames {
    shifts: Vec<Shift>,
}

/// What to compute: which periods, which dimension, which extra filters.
pub struct Query<'a> {
    pub calendar: &'a Calendar,
    pub catalog: &'a Catalog,
    pub periods: &'a [Period],
    pub by: Option<&'a str>,
    /// Extra row filters per source (`--where`).
    pub filters: &'a dyn Fn(&str) -> Option<RowExpr>,
    /// Rows after this instant are ignored.
    pub as_of: Timestamp,
    /// Scans of each source by name.
    pub scan: &'a dyn Fn(&str) -> Result<LogicalPlan>,
}

struct Leaf {
    aggregate: Aggregate,
    frames: Frames,
}

/// Builds the plan computing `formula` for every period of the query: columns `__idx`
/// (position in `periods`), `__dim` when grouping by a dimension, and `value`.
pub fn compile(query: &Query<'_>, formula: &Formula) -> Result<LogicalPlan> {
    let mut leaves: Vec<Leaf> = Vec::new();
    let value = scalar(
        query,
        formula,
        &Frames { shifts: Vec::new() },
        &mut leaves,
        0,
    )?;
    let idx_rows: Vec<Vec<Expr>> = (0..query.periods.len() as i64)
        .map(|i| vec![lit(i).alias(IDX)])
        .collect();
    let mut grid = rows_table(idx_rows)?;
    let mut plans = Vec::new();
    for (j, leaf) in leaves.iter().enumerate() {
        plans.push(leaf_plan(query, leaf)?.alias(format!("l{j}"))?.build()?);
    }
    if query.by.is_some() {
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
    for (j, plan) in plans.into_iter().enumerate() {
        let l = format!("l{j}");
        let mut left_keys = vec![Column::new(Some("grid"), IDX)];
        let mut right_keys = vec![Column::new(Some(l.as_str()), IDX)];
        if query.by.is_some() {
            left_keys.push(Column::new(Some("grid"), DIM));
            right_keys.push(Column::new(Some(l.as_str()), DIM));
        }
        grid = grid.join_detailed(
            plan,
            JoinType::Left,
            (left_keys, right_keys),
            None,
            NullEquality::NullEqualsNull,
        )?;
    }
    let mut out = vec![col(Column::new(Some("grid"), IDX)).alias(IDX)];
    if query.by.is_some() {
        out.push(col(Column::new(Some("grid"), DIM)).alias(DIM));
    }
    out.push(value.alias(VALUE));
    // No ORDER BY: the caller keys the few result rows by period and dimension itself.
    Ok(grid.project(out)?.build()?)
}

/// The value of leaf `j` after the join, with its empty value.
fn leaf_value(j: usize, aggregate: &Aggregate) -> Expr {
    let v = col(Column::new(Some(format!("l{j}")), V));
    let zero_when_empty = match &aggregate.group {
        None => aggregate.agg.empty_is_zero(),
        Some(g) => matches!(g.function, GroupFunction::Count | GroupFunction::Top(_)),
    };
    if zero_when_empty {
        coalesce(vec![v, lit(0.0)])
    } else {
        v
    }
}

fn scalar(
    query: &Query<'_>,
    formula: &Formula,
    frames: &Frames,
    leaves: &mut Vec<Leaf>,
    depth: usize,
) -> Result<Expr> {
    if depth > 256 {
        return Err(EngineError::User(
            "formula nested too deeply (KPIs building on KPIs more than 256 levels)".into(),
        ));
    }
    let d = depth + 1;
    let sub = |f: &Formula, leaves: &mut Vec<Leaf>| scalar(query, f, frames, leaves, d);
    Ok(match formula {
        Formula::Number(n) => lit(*n),
        Formula::Null => lit(ScalarValue::Float64(None)),
        Formula::Neg(x) => Expr::Negative(Box::new(sub(x, leaves)?)),
        Formula::Arith(op, a, b) => {
            let (a, b) = (sub(a, leaves)?, sub(b, leaves)?);
            arith(*op, a, b)
        }
        Formula::Aggregate(aggregate) => {
            let leaf = Leaf {
                aggregate: (**aggregate).clone(),
                frames: frames.clone(),
            };
            let j = match leaves
                .iter()
                .position(|l| l.aggregate == leaf.aggregate && l.frames == leaf.frames)
            {
                Some(j) => j,
                None => {
                    leaves.push(leaf);
                    leaves.len() - 1
                }
            };
            leaf_value(j, &leaves[j].aggregate)
        }
        Formula::Kpi(id) => {
            let kpi = query.catalog.get(id).ok_or_else(|| {
                EngineError::User(format!(
                    "KPI `{id}` cannot be computed: its definition has errors"
                ))
            })?;
            scalar(query, &kpi.formula, frames, leaves, d)?
        }
        Formula::Shift(shift, x) => {
            let mut shifted = frames.clone();
            shifted.shifts.push(*shift);
            scalar(query, x, &shifted, leaves, d)?
        }
        Formula::If(c, a, b) => {
            let c = condition(query, c, frames, leaves, d)?;
            let (a, b) = (sub(a, leaves)?, sub(b, leaves)?);
            when(c, a).otherwise(b)?
        }
        Formula::Coalesce(xs) => {
            coalesce(xs.iter().map(|x| sub(x, leaves)).collect::<Result<_>>()?)
        }
        Formula::Least(xs) => least(xs.iter().map(|x| sub(x, leaves)).collect::<Result<_>>()?),
        Formula::Greatest(xs) => {
            greatest(xs.iter().map(|x| sub(x, leaves)).collect::<Result<_>>()?)
        }
        Formula::Abs(x) => abs(sub(x, leaves)?),
        Formula::Round(x, n) => round(vec![sub(x, leaves)?, lit(*n as i64)]),
    })
}

fn condition(
    query: &Query<'_>,
    c: &Condition,
    frames: &Frames,
    leaves: &mut Vec<Leaf>,
    d: usize,
) -> Result<Expr> {
    Ok(match c {
        Condition::Constant(b) => lit(*b),
        Condition::Compare(op, a, b) => compare(
            *op,
            scalar(query, a, frames, leaves, d)?,
            scalar(query, b, frames, leaves, d)?,
        ),
        Condition::And(a, b) => {
            condition(query, a, frames, leaves, d)?.and(condition(query, b, frames, leaves, d)?)
        }
        Condition::Or(a, b) => {
            condition(query, a, frames, leaves, d)?.or(condition(query, b, frames, leaves, d)?)
        }
        Condition::Not(a) => condition(query, a, frames, leaves, d)?.not(),
        Condition::IsNull(x, negated) => {
            let x = scalar(query, x, frames, leaves, d)?;
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

fn micros(t: Timestamp) -> Expr {
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

/// The earliest instant a `to_date` window reads from.
fn dawn() -> Timestamp {
    Timestamp::from_second(-62_135_596_800).unwrap_or(Timestamp::MIN)
}

/// The continuous percentile `p` of `__x` per group of `keys`, exactly: sort each group, take
/// position `p·(n−1)` and interpolate linearly between its two neighbours.
fn percentile(rows: LogicalPlanBuilder, keys: Vec<Expr>, p: f64) -> Result<LogicalPlanBuilder> {
    let x = || cast(col("__x"), DataType::Float64);
    let rank = row_number()
        .partition_by(keys.clone())
        .order_by(vec![x().sort(true, false)])
        .build()?
        .alias("__rn");
    let n = Expr::from(WindowFunction::new(count_udaf(), vec![x()]))
        .partition_by(keys.clone())
        .build()?
        .alias("__n");
    let pos = || lit(p) * (cast(col("__n"), DataType::Float64) - lit(1.0));
    let lower = || floor(pos());
    let frac = || pos() - lower();
    let at = || cast(col("__rn"), DataType::Float64) - lit(1.0);
    let weight = when(at().eq(lower()), x() * (lit(1.0) - frac()))
        .when(at().eq(ceil(pos())), x() * frac())
        .otherwise(lit(0.0))?;
    Ok(rows
        .filter(col("__x").is_not_null())?
        .window(vec![rank])?
        .window(vec![n])?
        .aggregate(keys, vec![sum(weight).alias(V)])?)
}

/// The `[start, end)` window leaf `leaf` reads for output period `p`.
fn window(calendar: &Calendar, leaf: &Leaf, p: Period) -> (Timestamp, Timestamp) {
    let mut period = p;
    for shift in &leaf.frames.shifts {
        period = match shift {
            Shift::Previous => calendar.shift(period, -1),
            Shift::YearAgo => calendar.year_ago(period),
        };
    }
    let end = calendar.end(period);
    let start = match leaf.aggregate.window {
        Window::Period => calendar.start(period),
        Window::YearToDate => calendar.year_to_date_start(period),
        Window::Rolling(n) => calendar.start(calendar.shift(period, -(i64::from(n) - 1))),
        Window::ToDate => dawn(),
    };
    (start, end)
}

/// A column of the source by exact name (no parsing of dots).
fn column(name: &str) -> Expr {
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

/// For windows that follow each other without gap or overlap (the periods of a range, shifted
/// or not), the index of the window holding `__t`: `Σ (__t >= start of window k)` for k ≥ 1.
/// Rows outside all windows are filtered out before. `None` when the windows overlap, skip,
/// or are too many for one expression.
fn contiguous_index(windows: &[(Timestamp, Timestamp)]) -> Option<Expr> {
    if windows.is_empty() || windows.len() > 400 {
        return None;
    }
    let contiguous =
        windows.iter().all(|(s, e)| s < e) && windows.windows(2).all(|w| w[0].1 == w[1].0);
    if !contiguous {
        return None;
    }
    let mut index = lit(0_i64);
    for (start, _) in &windows[1..] {
        index = index + cast(col(T).gt_eq(micros(*start)), DataType::Int64);
    }
    Some(index)
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

fn leaf_plan(query: &Query<'_>, leaf: &Leaf) -> Result<LogicalPlanBuilder> {
    let a = &leaf.aggregate;
    let calendar = query.calendar;
    let windows: Vec<(Timestamp, Timestamp)> = query
        .periods
        .iter()
        .map(|p| window(calendar, leaf, *p))
        .collect();
    let rows: Vec<Vec<Expr>> = windows
        .iter()
        .enumerate()
        .map(|(i, (s, e))| {
            vec![
                lit(i as i64).alias(IDX),
                micros(*s).alias(WS),
                micros(*e).alias(WE),
            ]
        })
        .collect();
    let windows_plan = rows_table(rows)?.build()?;
    let lo = windows.iter().map(|w| w.0).min().unwrap_or(query.as_of);
    let hi = windows
        .iter()
        .map(|w| w.1)
        .max()
        .unwrap_or(query.as_of)
        .min(query.as_of);

    let mut filters: Vec<Expr> = a.filters.iter().map(|f| row_expr(calendar, f)).collect();
    if let Some(extra) = (query.filters)(&a.source) {
        filters.push(row_expr(calendar, &extra));
    }
    // Rows without a `per` value belong to no group (an invoice with no client is not a client).
    if let Some(g) = &a.group {
        filters.push(column(&g.column).is_not_null());
    }
    let as_of = micros(query.as_of);
    let rows = LogicalPlanBuilder::from((query.scan)(&a.source)?);
    let dim = query.by.map(|d| cast(column(d), DataType::Utf8).alias(DIM));
    let value = a.value.as_ref().map(|v| row_expr(calendar, v));
    let group = a
        .group
        .as_ref()
        .map(|g| cast(column(&g.column), DataType::Utf8).alias(G));

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
        let active_at = |x: Expr| {
            let x = when(x.clone().gt(as_of.clone()), as_of.clone())
                .otherwise(x)
                .unwrap_or(as_of.clone());
            col("__s")
                .lt_eq(x.clone())
                .and(col("__e").is_null().or(col("__e").gt(x)))
        };
        let ind = |c: Expr| sum(when(c, lit(1.0)).otherwise(lit(0.0)).unwrap_or(lit(0.0)));
        let joined = scan.join_on(
            windows_plan,
            JoinType::Inner,
            vec![active_at(col(WS)).or(active_at(col(WE)))],
        )?;
        let measure = match at {
            ActiveAt::Start => ind(active_at(col(WS))),
            ActiveAt::End => ind(active_at(col(WE))),
            ActiveAt::Average => (ind(active_at(col(WS))) + ind(active_at(col(WE)))) / lit(2.0),
        };
        joined.aggregate(keys.clone(), vec![measure.alias(V)])?
    } else {
        let t = column(&a.time);
        let mut f = t
            .clone()
            .is_not_null()
            .and(t.clone().gt_eq(micros(lo)))
            .and(t.clone().lt(micros(hi)));
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
            projection.push(cast(column(per), DataType::Utf8).alias(E));
        }
        let scan = rows.filter(f)?.project(projection)?;
        let joined = match contiguous_index(&windows) {
            // Consecutive periods: each row's period index is the number of period starts it
            // has passed, a cheap vectorised sum instead of a join to every window.
            Some(index) => {
                let mut columns: Vec<Expr> = scan.schema().columns().into_iter().map(col).collect();
                columns.push(index.alias(IDX));
                scan.project(columns)?
            }
            None => scan.join_on(
                windows_plan,
                JoinType::Inner,
                vec![col(T).gt_eq(col(WS)).and(col(T).lt(col(WE)))],
            )?,
        };
        let x = || col("__x");
        let fx = || cast(col("__x"), DataType::Float64);
        match &a.agg {
            CheckedAgg::Last { .. } | CheckedAgg::First { .. } => {
                // Semi-additive: the sum of the rows at the latest (earliest) time point of the
                // window — with `per`, at each entity's own latest (earliest) point, so an
                // entity without a snapshot at the window's last point still counts. A window
                // max (min) marks the point: plain SQL, no ordered aggregate. The projection and
                // derived table keep the unparser from folding the window, the filter and the
                // sum into one SELECT (it would filter with QUALIFY after grouping).
                let mut partition = keys.clone();
                if entity.is_some() {
                    partition.push(col(E));
                }
                let extreme = match a.agg {
                    CheckedAgg::First { .. } => min_udaf(),
                    _ => max_udaf(),
                };
                let point = Expr::from(WindowFunction::new(extreme, vec![col(T)]))
                    .partition_by(partition)
                    .build()?
                    .alias(POINT);
                let marked = joined.window(vec![point])?;
                let columns: Vec<Expr> = marked.schema().columns().into_iter().map(col).collect();
                marked
                    .project(columns)?
                    .alias("__snapshots")?
                    .filter(col(T).eq(col(POINT)))?
                    .aggregate(keys.clone(), vec![sum(fx()).alias(V)])?
            }
            agg => {
                let measure = match agg {
                    CheckedAgg::Count => match &a.value {
                        Some(_) => cast(count(x()), DataType::Float64),
                        None => cast(count(lit(1)), DataType::Float64),
                    },
                    CheckedAgg::CountDistinct => cast(count_distinct(x()), DataType::Float64),
                    CheckedAgg::Sum => sum(fx()),
                    CheckedAgg::Avg => avg(fx()),
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

    let Some(g) = &a.group else {
        return Ok(grouped);
    };
    let mut outer = vec![col(IDX)];
    if query.by.is_some() {
        outer.push(col(DIM));
    }
    let v = || col(V);
    let result = match g.function {
        GroupFunction::Max => grouped.aggregate(outer, vec![max(v()).alias(V)])?,
        GroupFunction::Min => grouped.aggregate(outer, vec![min(v()).alias(V)])?,
        GroupFunction::Avg => grouped.aggregate(outer, vec![avg(v()).alias(V)])?,
        GroupFunction::Count => {
            grouped.aggregate(outer, vec![cast(count(v()), DataType::Float64).alias(V)])?
        }
        GroupFunction::Hhi => {
            let total = sum(v());
            let share2 = sum(v() * v());
            let hhi = case(total.clone())
                .when(lit(0.0), lit(ScalarValue::Float64(None)))
                .otherwise(lit(10_000.0) * share2 / (total.clone() * total))?;
            grouped.aggregate(outer, vec![hhi.alias(V)])?
        }
        GroupFunction::Top(n) => {
            let rank = row_number()
                .partition_by(outer.clone())
                .order_by(vec![v().sort(false, false)])
                .build()?
                .alias("__rank");
            grouped
                .window(vec![rank])?
                .filter(col("__rank").lt_eq(lit(n as u64)))?
                .aggregate(outer, vec![sum(v()).alias(V)])?
        }
    };
    Ok(result)
}
