//! The plan of one KPI for one request, with no DataFusion and no SQL in it.
//!
//! Every aggregate a formula reads (after `previous`/`year_ago` shifts and KPI references are
//! followed) becomes a [`Leaf`]: a source, its row filters, the time column and the table of
//! `[start, end)` windows it is read over, one per requested period. The formula's arithmetic
//! over the leaves is a [`Value`]. A leaf is the unit of pushdown: each lowering (DataFusion
//! for files and the store, SQL for a database table) turns it into one small row per period
//! and dimension value, and the grid and the arithmetic are assembled in Tablero, so one KPI
//! may read a database table and a CSV file.
//!
//! Plans print as text (`tablero explain` shows them), so a planning change is a reviewable
//! diff in the snapshot tests.

use std::fmt::{self, Display, Formatter};

use jiff::Timestamp;
use tablero_calendar::{Calendar, Period};
use tablero_formula::Catalog;
use tablero_formula::ir::*;

use crate::error::{EngineError, Result};

/// One aggregate of one source over a window per period.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub aggregate: Aggregate,
    /// `previous`/`year_ago` applied to the output period, in order.
    pub shifts: Vec<Shift>,
    /// The `[start, end)` instants read for each requested period, by index.
    pub windows: Vec<(Timestamp, Timestamp)>,
    /// `--where`, checked against this leaf's source.
    pub request_filter: Option<RowExpr>,
}

impl Leaf {
    /// Whether a period or dimension value without rows reads 0 (a count, a sum) rather than
    /// null (an average, a maximum).
    pub fn zero_when_empty(&self) -> bool {
        match &self.aggregate.group {
            None => self.aggregate.agg.empty_is_zero(),
            Some(g) => matches!(g.function, GroupFunction::Count | GroupFunction::Top(_)),
        }
    }

    /// Every row filter that must hold: the measure's, `[filter]`s and `--where`.
    pub fn filters(&self) -> impl Iterator<Item = &RowExpr> {
        self.aggregate
            .filters
            .iter()
            .chain(self.request_filter.as_ref())
    }

    /// When the windows follow each other without gap or overlap (the periods of a range,
    /// shifted or not): then each row's window is found by a sorted lookup of its time among
    /// the windows' starts.
    pub fn contiguous(&self) -> bool {
        !self.windows.is_empty()
            && self.windows.iter().all(|(s, e)| s < e)
            && self.windows.windows(2).all(|w| w[0].1 == w[1].0)
    }

    /// The windows cut at every instant where one starts or ends: the sorted distinct
    /// boundaries `b`, and the `(segment k, window)` pairs saying which elementary segments
    /// `[b[k], b[k+1])` make up each window. Overlapping windows (`ytd`, `rolling`) share
    /// segments; a segment in a gap belongs to none. A row finds its segment by a sorted
    /// lookup of its time and its windows by an equality join on the pairs.
    pub fn segments(&self) -> (Vec<Timestamp>, Vec<(usize, usize)>) {
        let mut boundaries: Vec<Timestamp> =
            self.windows.iter().flat_map(|(s, e)| [*s, *e]).collect();
        boundaries.sort();
        boundaries.dedup();
        let at = |t: &Timestamp| boundaries.partition_point(|b| b < t);
        let mut pairs = Vec::new();
        for (i, (s, e)) in self.windows.iter().enumerate() {
            pairs.extend((at(s)..at(e)).map(|k| (k, i)));
        }
        pairs.sort();
        (boundaries, pairs)
    }

    /// The instants an `active` leaf counts intervals at: its windows' boundaries, none after
    /// `as_of` (a later one is as-of itself).
    pub fn counted_at(&self, as_of: Timestamp) -> impl Iterator<Item = Timestamp> + '_ {
        self.windows
            .iter()
            .flat_map(move |(s, e)| [(*s).min(as_of), (*e).min(as_of)])
    }

    /// The instants this leaf reads rows from: `[first start, min(last end, as_of))`.
    pub fn time_range(&self, as_of: Timestamp) -> (Timestamp, Timestamp) {
        let lo = self.windows.iter().map(|w| w.0).min().unwrap_or(as_of);
        let hi = self
            .windows
            .iter()
            .map(|w| w.1)
            .max()
            .unwrap_or(as_of)
            .min(as_of);
        (lo, hi)
    }
}

/// The arithmetic over leaves, evaluated per period and dimension value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Null,
    /// Leaf `j`'s value (0 for a period without rows when [`Leaf::zero_when_empty`]).
    Leaf(usize),
    Neg(Box<Value>),
    /// Division by zero is null.
    Arith(ArithOp, Box<Value>, Box<Value>),
    If(Box<Cond>, Box<Value>, Box<Value>),
    Coalesce(Vec<Value>),
    Least(Vec<Value>),
    Greatest(Vec<Value>),
    Abs(Box<Value>),
    Round(Box<Value>, i32),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Constant(bool),
    Compare(CmpOp, Value, Value),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    IsNull(Value, bool),
}

/// A KPI's plan for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiPlan {
    pub periods: Vec<Period>,
    /// The `--by` dimension.
    pub by: Option<String>,
    /// Rows after this instant are ignored.
    pub as_of: Timestamp,
    pub leaves: Vec<Leaf>,
    pub value: Value,
}

/// What planning needs to know of the request.
pub struct Planning<'a> {
    pub calendar: &'a Calendar,
    pub catalog: &'a Catalog,
    pub periods: &'a [Period],
    pub by: Option<&'a str>,
    /// `--where` per source.
    pub filters: &'a dyn Fn(&str) -> Option<RowExpr>,
    pub as_of: Timestamp,
}

/// Plans `formula` over the request's periods.
pub fn plan(planning: &Planning<'_>, formula: &Formula) -> Result<KpiPlan> {
    let mut leaves = Vec::new();
    let value = value(planning, formula, &[], &mut leaves, 0)?;
    Ok(KpiPlan {
        periods: planning.periods.to_vec(),
        by: planning.by.map(str::to_string),
        as_of: planning.as_of,
        leaves,
        value,
    })
}

/// How deep KPIs may build on KPIs.
const MAX_DEPTH: usize = 256;

fn value(
    planning: &Planning<'_>,
    formula: &Formula,
    shifts: &[Shift],
    leaves: &mut Vec<Leaf>,
    depth: usize,
) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(EngineError::Data(
            "formula nested too deeply (KPIs building on KPIs more than 256 levels)".into(),
        ));
    }
    let d = depth + 1;
    let sub = |f: &Formula, leaves: &mut Vec<Leaf>| value(planning, f, shifts, leaves, d);
    let many = |xs: &[Formula], leaves: &mut Vec<Leaf>| -> Result<Vec<Value>> {
        xs.iter()
            .map(|x| value(planning, x, shifts, leaves, d))
            .collect()
    };
    Ok(match formula {
        Formula::Number(n) => Value::Number(*n),
        Formula::Null => Value::Null,
        Formula::Neg(x) => Value::Neg(Box::new(sub(x, leaves)?)),
        Formula::Arith(op, a, b) => {
            let a = sub(a, leaves)?;
            Value::Arith(*op, Box::new(a), Box::new(sub(b, leaves)?))
        }
        Formula::Aggregate(aggregate) => {
            let calendar = planning.calendar;
            let windows = planning
                .periods
                .iter()
                .map(|p| window(calendar, aggregate, shifts, *p))
                .collect();
            let leaf = Leaf {
                aggregate: (**aggregate).clone(),
                shifts: shifts.to_vec(),
                windows,
                request_filter: (planning.filters)(&aggregate.source),
            };
            let j = match leaves.iter().position(|l| *l == leaf) {
                Some(j) => j,
                None => {
                    leaves.push(leaf);
                    leaves.len() - 1
                }
            };
            Value::Leaf(j)
        }
        Formula::Kpi(id) => {
            let kpi = planning.catalog.get(id).ok_or_else(|| {
                EngineError::Data(format!(
                    "KPI `{id}` cannot be computed: its definition has errors"
                ))
            })?;
            value(planning, &kpi.formula, shifts, leaves, d)?
        }
        Formula::Shift(shift, x) => {
            let mut shifted = shifts.to_vec();
            shifted.push(*shift);
            value(planning, x, &shifted, leaves, d)?
        }
        Formula::If(c, a, b) => {
            let c = cond(planning, c, shifts, leaves, d)?;
            let a = sub(a, leaves)?;
            Value::If(Box::new(c), Box::new(a), Box::new(sub(b, leaves)?))
        }
        Formula::Coalesce(xs) => Value::Coalesce(many(xs, leaves)?),
        Formula::Least(xs) => Value::Least(many(xs, leaves)?),
        Formula::Greatest(xs) => Value::Greatest(many(xs, leaves)?),
        Formula::Abs(x) => Value::Abs(Box::new(sub(x, leaves)?)),
        Formula::Round(x, n) => Value::Round(Box::new(sub(x, leaves)?), *n),
    })
}

fn cond(
    planning: &Planning<'_>,
    c: &Condition,
    shifts: &[Shift],
    leaves: &mut Vec<Leaf>,
    d: usize,
) -> Result<Cond> {
    let boxed = |c: &Condition, leaves: &mut Vec<Leaf>| -> Result<Box<Cond>> {
        Ok(Box::new(cond(planning, c, shifts, leaves, d)?))
    };
    Ok(match c {
        Condition::Constant(b) => Cond::Constant(*b),
        Condition::Compare(op, a, b) => {
            let a = value(planning, a, shifts, leaves, d)?;
            Cond::Compare(*op, a, value(planning, b, shifts, leaves, d)?)
        }
        Condition::And(a, b) => {
            let a = boxed(a, leaves)?;
            Cond::And(a, boxed(b, leaves)?)
        }
        Condition::Or(a, b) => {
            let a = boxed(a, leaves)?;
            Cond::Or(a, boxed(b, leaves)?)
        }
        Condition::Not(a) => Cond::Not(boxed(a, leaves)?),
        Condition::IsNull(x, negated) => {
            Cond::IsNull(value(planning, x, shifts, leaves, d)?, *negated)
        }
    })
}

/// The earliest instant a `to_date` window reads from.
fn dawn() -> Timestamp {
    Timestamp::from_second(-62_135_596_800).unwrap_or(Timestamp::MIN)
}

/// The `[start, end)` window an aggregate, under `shifts`, reads for output period `p`.
fn window(
    calendar: &Calendar,
    aggregate: &Aggregate,
    shifts: &[Shift],
    p: Period,
) -> (Timestamp, Timestamp) {
    let mut period = p;
    for shift in shifts {
        period = match shift {
            Shift::Previous => calendar.shift(period, -1),
            Shift::YearAgo => calendar.year_ago(period),
        };
    }
    let end = calendar.end(period);
    let start = match aggregate.window {
        Window::Period => calendar.start(period),
        Window::YearToDate => calendar.year_to_date_start(period),
        Window::Rolling(n) => calendar.start(calendar.shift(period, -(i64::from(n) - 1))),
        Window::ToDate => dawn(),
    };
    (start, end)
}

impl Display for KpiPlan {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "periods: {}, as of {}", self.periods.len(), self.as_of)?;
        if let Some(by) = &self.by {
            writeln!(f, "by: {by}")?;
        }
        writeln!(f, "value = {}", self.value)?;
        for (j, leaf) in self.leaves.iter().enumerate() {
            write!(f, "l{j} = {leaf}")?;
        }
        Ok(())
    }
}

impl Display for Leaf {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let a = &self.aggregate;
        let value = a
            .value
            .as_ref()
            .map(|v| Row(v).to_string())
            .unwrap_or_default();
        let agg = match &a.agg {
            CheckedAgg::Count => format!("count({})", if value.is_empty() { "*" } else { &value }),
            CheckedAgg::CountDistinct => format!("count_distinct({value})"),
            CheckedAgg::Sum => format!("sum({value})"),
            CheckedAgg::Avg => format!("avg({value})"),
            CheckedAgg::Min => format!("min({value})"),
            CheckedAgg::Max => format!("max({value})"),
            CheckedAgg::Median => format!("median({value})"),
            CheckedAgg::Percentile(p) => format!("percentile({value}, {p})"),
            CheckedAgg::Last { per } => match per {
                Some(per) => format!("last({value} per {per})"),
                None => format!("last({value})"),
            },
            CheckedAgg::First { per } => match per {
                Some(per) => format!("first({value} per {per})"),
                None => format!("first({value})"),
            },
            CheckedAgg::Active { start, end, at } => {
                format!("active([{start}, {end}) at {at:?})")
            }
        };
        let agg = match &a.group {
            None => agg,
            Some(g) => {
                let function = match g.function {
                    GroupFunction::Max => "max".to_string(),
                    GroupFunction::Min => "min".to_string(),
                    GroupFunction::Avg => "avg".to_string(),
                    GroupFunction::Count => "count".to_string(),
                    GroupFunction::Top(n) => format!("top{n}"),
                    GroupFunction::Hhi => "hhi".to_string(),
                };
                format!("{function}({agg} per {})", g.column)
            }
        };
        writeln!(f, "{agg} of {}.{}", a.source, a.measure)?;
        if !matches!(a.agg, CheckedAgg::Active { .. }) {
            writeln!(f, "    time: {}", a.time)?;
        }
        for filter in self.filters() {
            writeln!(f, "    where: {}", Row(filter))?;
        }
        let window = match a.window {
            Window::Period => "period".to_string(),
            Window::YearToDate => "year to date".to_string(),
            Window::Rolling(n) => format!("rolling {n}"),
            Window::ToDate => "to date".to_string(),
        };
        let shifts: Vec<&str> = self
            .shifts
            .iter()
            .map(|s| match s {
                Shift::Previous => "previous",
                Shift::YearAgo => "year_ago",
            })
            .collect();
        write!(f, "    window: {window}")?;
        if !shifts.is_empty() {
            write!(f, ", shifted {}", shifts.join(", "))?;
        }
        writeln!(
            f,
            "{}",
            if self.contiguous() {
                ", contiguous"
            } else {
                ""
            }
        )?;
        for (i, (start, end)) in self.windows.iter().enumerate() {
            writeln!(f, "    [{i}] {start} .. {end}")?;
        }
        Ok(())
    }
}

fn list(f: &mut Formatter<'_>, name: &str, xs: &[Value]) -> fmt::Result {
    write!(f, "{name}(")?;
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{x}")?;
    }
    write!(f, ")")
}

fn arith_symbol(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
    }
}

fn compare_symbol(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::NotEq => "!=",
        CmpOp::Lt => "<",
        CmpOp::LtEq => "<=",
        CmpOp::Gt => ">",
        CmpOp::GtEq => ">=",
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Null => write!(f, "null"),
            Value::Leaf(j) => write!(f, "l{j}"),
            Value::Neg(x) => write!(f, "-({x})"),
            Value::Arith(op, a, b) => write!(f, "({a} {} {b})", arith_symbol(*op)),
            Value::If(c, a, b) => write!(f, "if({c}, {a}, {b})"),
            Value::Coalesce(xs) => list(f, "coalesce", xs),
            Value::Least(xs) => list(f, "least", xs),
            Value::Greatest(xs) => list(f, "greatest", xs),
            Value::Abs(x) => write!(f, "abs({x})"),
            Value::Round(x, n) => write!(f, "round({x}, {n})"),
        }
    }
}

impl Display for Cond {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Cond::Constant(b) => write!(f, "{b}"),
            Cond::Compare(op, a, b) => write!(f, "{a} {} {b}", compare_symbol(*op)),
            Cond::And(a, b) => write!(f, "({a} and {b})"),
            Cond::Or(a, b) => write!(f, "({a} or {b})"),
            Cond::Not(a) => write!(f, "not ({a})"),
            Cond::IsNull(x, false) => write!(f, "{x} is null"),
            Cond::IsNull(x, true) => write!(f, "{x} is not null"),
        }
    }
}

/// Row expressions in the formula language's own notation.
pub struct Row<'a>(pub &'a RowExpr);

impl Display for Row<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let row = |e: &RowExpr| Row(e).to_string();
        match self.0 {
            RowExpr::Column { name, .. } => write!(f, "[{name}]"),
            RowExpr::Number(n) => write!(f, "{n}"),
            RowExpr::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            RowExpr::Boolean(b) => write!(f, "{b}"),
            RowExpr::Date(d) => write!(f, "date '{d}'"),
            RowExpr::Null => write!(f, "null"),
            RowExpr::Neg(x) => write!(f, "-({})", row(x)),
            RowExpr::Not(x) => write!(f, "not ({})", row(x)),
            RowExpr::Arith(op, a, b) => {
                write!(f, "({} {} {})", row(a), arith_symbol(*op), row(b))
            }
            RowExpr::Compare(op, a, b) => {
                write!(f, "{} {} {}", row(a), compare_symbol(*op), row(b))
            }
            RowExpr::And(a, b) => write!(f, "({} and {})", row(a), row(b)),
            RowExpr::Or(a, b) => write!(f, "({} or {})", row(a), row(b)),
            RowExpr::InList {
                expr,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(row).collect();
                let not = if *negated { "not " } else { "" };
                write!(f, "{} {not}in ({})", row(expr), items.join(", "))
            }
            RowExpr::IsNull { expr, negated } => {
                let not = if *negated { "not " } else { "" };
                write!(f, "{} is {not}null", row(expr))
            }
            RowExpr::Between { unit, from, to } => {
                let name = match unit {
                    TimeUnit::Days => "days_between",
                    TimeUnit::Hours => "hours_between",
                    TimeUnit::Minutes => "minutes_between",
                };
                write!(f, "{name}({}, {})", row(from), row(to))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(windows: &[(i64, i64)]) -> Leaf {
        let at = |h: i64| Timestamp::from_second(h * 3600).unwrap();
        Leaf {
            aggregate: Aggregate {
                source: "s".into(),
                measure: "m".into(),
                agg: CheckedAgg::Count,
                value: None,
                time: "t".into(),
                filters: Vec::new(),
                window: Window::Period,
                group: None,
            },
            shifts: Vec::new(),
            windows: windows.iter().map(|(s, e)| (at(*s), at(*e))).collect(),
            request_filter: None,
        }
    }

    fn hours(ts: &[Timestamp]) -> Vec<i64> {
        ts.iter().map(|t| t.as_second() / 3600).collect()
    }

    #[test]
    fn windows_are_cut_into_the_segments_they_share() {
        // Year to date over three hours: [0,1), [0,2), [0,3) → segments [0,1) [1,2) [2,3);
        // window 0 is segment 0, window 1 segments 0–1, window 2 segments 0–2.
        let (b, pairs) = leaf(&[(0, 1), (0, 2), (0, 3)]).segments();
        assert_eq!(hours(&b), vec![0, 1, 2, 3]);
        assert_eq!(pairs, vec![(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]);
    }

    #[test]
    fn a_gap_belongs_to_no_window_and_an_empty_window_has_no_segment() {
        // [0,1) and [2,3) leave [1,2) out; [5,5) reads nothing but still bounds a segment.
        let (b, pairs) = leaf(&[(0, 1), (2, 3), (5, 5)]).segments();
        assert_eq!(hours(&b), vec![0, 1, 2, 3, 5]);
        assert_eq!(pairs, vec![(0, 0), (2, 1)]);
    }

    #[test]
    fn consecutive_windows_are_their_own_segments() {
        let (b, pairs) = leaf(&[(0, 2), (2, 5), (5, 6)]).segments();
        assert_eq!(hours(&b), vec![0, 2, 5, 6]);
        assert_eq!(pairs, vec![(0, 0), (1, 1), (2, 2)]);
    }
}
