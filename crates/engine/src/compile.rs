//! The DataFusion lowering of a [`KpiPlan`](crate::plan::KpiPlan): files, the store.
//!
//! A KPI over a list of periods becomes one plan. Every leaf is the source's rows, filtered,
//! given the index of their time window (a sum of comparisons with the windows' starts when
//! the windows follow each other, else a join to the small table of `[start, end)` windows),
//! grouped by period index and dimension — or a leaf's result computed in a database.
//! The leaves are left-joined onto the grid of periods × dimension values, and the formula's
//! arithmetic becomes one projection over their columns. Everything stays relational, so the
//! plan can be printed as SQL (`explain`); databases get their own lowering (`sql`).

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
use tablero_calendar::Calendar;
use tablero_formula::ir::*;
use tablero_model::ActiveAt;

use crate::error::{EngineError, Result};
use crate::plan::{Cond, KpiPlan, Leaf, Value};

pub const IDX: &str = "__idx";
pub const DIM: &str = "__dim";
pub const VALUE: &str = "value";
const WS: &str = "__ws";
const WE: &str = "__we";
const T: &str = "__t";
const G: &str = "__g";
pub const V: &str = "__v";
/// The `per:` entity of a `last`/`first` measure.
const E: &str = "__e";
/// The latest (earliest) time point of a `last` (`first`) measure's window, per entity.
const POINT: &str = "__point";

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

/// The most windows whose index is computed by arithmetic; more are joined on a range.
pub const MAX_INDEXED_WINDOWS: usize = 400;

/// For contiguous windows (see [`Leaf::contiguous`]), the index of the window holding `__t`:
/// `Σ (__t >= start of window k)` for k ≥ 1. Rows outside all windows are filtered out
/// before. `None` when the windows are too many for one expression.
fn contiguous_index(leaf: &Leaf) -> Option<Expr> {
    if !leaf.contiguous() || leaf.windows.len() > MAX_INDEXED_WINDOWS {
        return None;
    }
    let mut index = lit(0_i64);
    for (start, _) in &leaf.windows[1..] {
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

fn leaf_plan(
    calendar: &Calendar,
    plan: &KpiPlan,
    leaf: &Leaf,
    scan: LogicalPlan,
) -> Result<LogicalPlanBuilder> {
    let a = &leaf.aggregate;
    let rows: Vec<Vec<Expr>> = leaf
        .windows
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
        let joined = match contiguous_index(leaf) {
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
    if plan.by.is_some() {
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
    let first = leaves
        .first()
        .ok_or_else(|| EngineError::Internal("a pass without leaves".into()))?;
    let (lo, hi) = first.time_range(plan.as_of);
    let t = column(&first.aggregate.time);
    let mut projection = vec![t.clone().alias(T)];
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
        if let Some(v) = &leaf.aggregate.value {
            projection.push(row_expr(calendar, v).alias(format!("__x{j}")));
        }
        any = any.or(col(format!("__f{j}")));
    }
    let rows = LogicalPlanBuilder::from(scan)
        .filter(
            t.clone()
                .is_not_null()
                .and(t.clone().gt_eq(micros(lo)))
                .and(t.lt(micros(hi))),
        )?
        .project(projection)?
        .filter(any)?;
    let rows = match contiguous_index(first) {
        Some(index) => {
            let mut columns: Vec<Expr> = rows.schema().columns().into_iter().map(col).collect();
            columns.push(index.alias(IDX));
            rows.project(columns)?
        }
        None => {
            let windows: Vec<Vec<Expr>> = first
                .windows
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
            rows.join_on(
                rows_table(windows)?.build()?,
                JoinType::Inner,
                vec![col(T).gt_eq(col(WS)).and(col(T).lt(col(WE)))],
            )?
        }
    };
    let mut keys = vec![col(IDX)];
    if plan.by.is_some() {
        keys.push(col(DIM));
    }
    let mut measures = Vec::new();
    for (j, leaf) in leaves.iter().enumerate() {
        let f = || col(format!("__f{j}"));
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
            CheckedAgg::Sum => sum(fx()).filter(f()).build()?,
            CheckedAgg::Avg => avg(fx()).filter(f()).build()?,
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
