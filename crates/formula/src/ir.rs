//! Checked formulas: names resolved, types known, sugar removed.
//!
//! Only the checker builds these types, so a [`Formula`] or [`RowExpr`] always refers to
//! sources, measures, columns and KPIs that exist, with operands of fitting types. The engine
//! compiles them without checking again.

use jiff::civil::Date;
use tablero_model::{Agg, ColumnType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Days,
    Hours,
    Minutes,
}

impl TimeUnit {
    pub fn seconds(self) -> f64 {
        match self {
            TimeUnit::Days => 86_400.0,
            TimeUnit::Hours => 3_600.0,
            TimeUnit::Minutes => 60.0,
        }
    }
}

/// What a row expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowType {
    Number,
    String,
    Boolean,
    /// A date or timestamp: an instant once loaded.
    Time,
    /// The literal `null`, which fits anywhere.
    Null,
}

impl RowType {
    pub fn of(ty: ColumnType) -> RowType {
        match ty {
            ColumnType::String => RowType::String,
            ColumnType::Integer | ColumnType::Number => RowType::Number,
            ColumnType::Boolean => RowType::Boolean,
            ColumnType::Date | ColumnType::Timestamp => RowType::Time,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            RowType::Number => "a number",
            RowType::String => "a string",
            RowType::Boolean => "a boolean",
            RowType::Time => "a date or timestamp",
            RowType::Null => "null",
        }
    }
}

/// An expression over one row of a source: a measure's `expr` or `filter`, a `[filter]`, `--where`.
#[derive(Debug, Clone, PartialEq)]
pub enum RowExpr {
    Column {
        name: String,
        ty: ColumnType,
    },
    Number(f64),
    String(String),
    Boolean(bool),
    /// Local midnight of the date in the workspace time zone.
    Date(Date),
    Null,
    Neg(Box<RowExpr>),
    Not(Box<RowExpr>),
    Arith(ArithOp, Box<RowExpr>, Box<RowExpr>),
    Compare(CmpOp, Box<RowExpr>, Box<RowExpr>),
    And(Box<RowExpr>, Box<RowExpr>),
    Or(Box<RowExpr>, Box<RowExpr>),
    InList {
        expr: Box<RowExpr>,
        list: Vec<RowExpr>,
        negated: bool,
    },
    IsNull {
        expr: Box<RowExpr>,
        negated: bool,
    },
    /// `b - a` in the unit, as a fraction: `days_between(a, b)`.
    Between {
        unit: TimeUnit,
        from: Box<RowExpr>,
        to: Box<RowExpr>,
    },
}

/// Which rows of time an aggregate reads for a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The period itself.
    Period,
    /// From the start of the (fiscal) year to the end of the period; at week grain, from the
    /// start of the first week of the year that holds the week's Thursday.
    YearToDate,
    /// The `n` periods ending with this one.
    Rolling(u32),
    /// All history up to the end of the period.
    ToDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupFunction {
    Max,
    Min,
    Avg,
    Count,
    /// Sum of the n largest groups.
    Top(u32),
    /// Herfindahl index of the groups' shares, 0..10000.
    Hhi,
}

/// `func(measure per column)`: the measure per value of `column`, then `func` over the groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub function: GroupFunction,
    pub column: String,
}

/// One measure of one source aggregated over a window, possibly per group.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub source: String,
    pub measure: String,
    pub agg: CheckedAgg,
    /// The measure's `expr`.
    pub value: Option<RowExpr>,
    /// The measure's `filter` and any `[filter]`s, all of which must hold.
    pub filters: Vec<RowExpr>,
    /// The column that places a row in a period (`active` measures use their interval).
    pub time: String,
    pub window: Window,
    pub group: Option<Group>,
}

/// [`Agg`] with its column names resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckedAgg {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    Median,
    Percentile(f64),
    /// The sum at the latest time point; with `per`, of each value of that column's own latest
    /// time point in the window (rows with a null value are one entity, as under `--by`).
    Last {
        per: Option<String>,
    },
    /// Like `Last`, at the earliest time point.
    First {
        per: Option<String>,
    },
    Active {
        start: String,
        end: String,
        at: tablero_model::ActiveAt,
    },
}

impl CheckedAgg {
    pub fn from_model(agg: &Agg) -> CheckedAgg {
        match agg {
            Agg::Count => CheckedAgg::Count,
            Agg::CountDistinct => CheckedAgg::CountDistinct,
            Agg::Sum => CheckedAgg::Sum,
            Agg::Avg => CheckedAgg::Avg,
            Agg::Min => CheckedAgg::Min,
            Agg::Max => CheckedAgg::Max,
            Agg::Median => CheckedAgg::Median,
            Agg::Percentile(p) => CheckedAgg::Percentile(*p),
            Agg::Last { per } => CheckedAgg::Last {
                per: per.as_ref().map(|p| p.value.clone()),
            },
            Agg::First { per } => CheckedAgg::First {
                per: per.as_ref().map(|p| p.value.clone()),
            },
            Agg::Active { start, end, at } => CheckedAgg::Active {
                start: start.value.clone(),
                end: end.value.clone(),
                at: *at,
            },
        }
    }

    /// Over no rows: 0 for counts and sums, null for the rest.
    pub fn empty_is_zero(&self) -> bool {
        matches!(
            self,
            CheckedAgg::Count
                | CheckedAgg::CountDistinct
                | CheckedAgg::Sum
                | CheckedAgg::Active { .. }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    Previous,
    YearAgo,
}

/// A KPI-level expression: one number (or null) per period and dimension value.
#[derive(Debug, Clone, PartialEq)]
pub enum Formula {
    Number(f64),
    Null,
    Neg(Box<Formula>),
    Arith(ArithOp, Box<Formula>, Box<Formula>),
    Aggregate(Box<Aggregate>),
    /// Another KPI's value, by id.
    Kpi(String),
    /// The value at an earlier period.
    Shift(Shift, Box<Formula>),
    If(Box<Condition>, Box<Formula>, Box<Formula>),
    Coalesce(Vec<Formula>),
    Abs(Box<Formula>),
    Round(Box<Formula>, i32),
    Least(Vec<Formula>),
    Greatest(Vec<Formula>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Compare(CmpOp, Formula, Formula),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    IsNull(Formula, bool),
    Constant(bool),
}

impl Formula {
    /// Calls `f` on every aggregate, KPI reference included only as a name.
    pub fn visit(&self, f: &mut dyn FnMut(&Formula)) {
        f(self);
        match self {
            Formula::Number(_) | Formula::Null | Formula::Aggregate(_) | Formula::Kpi(_) => {}
            Formula::Neg(x) | Formula::Shift(_, x) | Formula::Abs(x) | Formula::Round(x, _) => {
                x.visit(f)
            }
            Formula::Arith(_, a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Formula::If(c, a, b) => {
                c.visit(f);
                a.visit(f);
                b.visit(f);
            }
            Formula::Coalesce(xs) | Formula::Least(xs) | Formula::Greatest(xs) => {
                xs.iter().for_each(|x| x.visit(f));
            }
        }
    }
}

impl Condition {
    pub fn visit(&self, f: &mut dyn FnMut(&Formula)) {
        match self {
            Condition::Compare(_, a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Condition::And(a, b) | Condition::Or(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Condition::Not(c) => c.visit(f),
            Condition::IsNull(x, _) => x.visit(f),
            Condition::Constant(_) => {}
        }
    }
}
