//! The PostgreSQL lowering of a [`Leaf`]: one statement that filters, assigns rows to
//! periods, groups and aggregates inside the database, returning one row
//! `(idx, dim, v)` per period and dimension value.
//!
//! Nothing of a request reaches the statement as text: identifiers come from the checked
//! catalog and are always quoted; every value (numbers, strings, instants, the time zone, the
//! windows) is a bound parameter. Local times follow the calendar's rules: a `date` or a
//! `timestamp without time zone` column is read in the workspace's zone with `AT TIME ZONE`,
//! a skipped time moving forward by the gap (PostgreSQL's own rule) and a repeated time
//! taking its first occurrence (PostgreSQL takes the second, so the statement steps back
//! when the earlier instant reads the same wall time). The time column that places rows in
//! periods is not converted at all: it is compared, as stored, with the first wall time that
//! reads at or after each window boundary, computed here once per boundary.
//!
//! Sums and averages are the database's own `SUM` and `AVG`: the exact, order-independent
//! sums of the DataFusion lowering ([`crate::exact_sum`]) are not carried over here, so the
//! last digits of a float sum computed in PostgreSQL may depend on its plan.

use std::collections::HashMap;
use std::fmt::{self, Display, Formatter};

use jiff::Timestamp;
use tablero_calendar::Calendar;
use tablero_connections::{Value as Bound, quote_identifier};
use tablero_formula::ir::*;
use tablero_model::{ActiveAt, ColumnType};

use crate::error::{EngineError, Result};
use crate::plan::{KpiPlan, Leaf};

/// How a leaf's rows are placed in time (see `Builder::timeline`).
#[derive(Default)]
struct Timeline {
    /// The table's time column.
    column: String,
    /// The time of a row as the statement compares it.
    t: String,
    /// The range's bounds, constants of `t`'s type.
    lo: String,
    hi: String,
    /// Whether `t` is a local wall-clock time (else an instant).
    local: bool,
}

impl Timeline {
    /// `lo <= column < hi`, on the table's row (`r`) as stored: a date compares with a
    /// timestamp as its midnight.
    fn range(&self) -> String {
        format!("{c} >= {} AND {c} < {}", self.lo, self.hi, c = self.column)
    }
}

/// A statement with its bound values, as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub values: Vec<Bound>,
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.sql)?;
        for (i, value) in self.values.iter().enumerate() {
            let shown = match value {
                Bound::Float(x) => x.to_string(),
                Bound::Text(s) => format!("'{}'", s.replace('\'', "''")),
                Bound::Instant(t) => t.to_string(),
                Bound::Ints(xs) => format!("{xs:?}"),
                Bound::Instants(ts) => {
                    let shown: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
                    format!("[{}]", shown.join(", "))
                }
                Bound::Wall(w) => w.to_string(),
                Bound::Walls(ws) => {
                    let shown: Vec<String> = ws.iter().map(|w| w.to_string()).collect();
                    format!("[{}]", shown.join(", "))
                }
            };
            writeln!(f, "-- ${} = {shown}", i + 1)?;
        }
        Ok(())
    }
}

/// How the database stores a declared date or timestamp column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStorage {
    /// `timestamp with time zone`: instants.
    Instant,
    /// `timestamp without time zone`: local wall-clock times.
    LocalTimestamp,
    /// `date`: local calendar days.
    LocalDate,
}

impl TimeStorage {
    /// From PostgreSQL's type name (`format_type`); `None` for a type that holds no time.
    pub fn of(pg_type: &str) -> Option<TimeStorage> {
        if pg_type.starts_with("timestamp")
            && pg_type.ends_with("with time zone")
            && !pg_type.ends_with("without time zone")
        {
            Some(TimeStorage::Instant)
        } else if pg_type.starts_with("timestamp") {
            Some(TimeStorage::LocalTimestamp)
        } else if pg_type == "date" {
            Some(TimeStorage::LocalDate)
        } else {
            None
        }
    }
}

/// Lowers `leaf` of `plan` for a table whose temporal columns are stored as `times` says.
pub fn leaf_statement(
    calendar: &Calendar,
    plan: &KpiPlan,
    leaf: &Leaf,
    table: &str,
    times: &HashMap<String, TimeStorage>,
) -> Result<Statement> {
    let mut b = Builder {
        calendar,
        times,
        values: Vec::new(),
        zone: None,
    };
    let sql = b.leaf(plan, leaf, table)?;
    Ok(Statement {
        sql,
        values: b.values,
    })
}

/// One statement for several leaves over the same table, time column and windows (a shared
/// pass): one scan, one period assignment, one grouping with each leaf's aggregate under its
/// own `FILTER (WHERE …)`. Columns: `idx`, `d`, then per leaf `v{j}` and `n{j}` (its rows).
pub fn pass_statement(
    calendar: &Calendar,
    plan: &KpiPlan,
    leaves: &[&Leaf],
    table: &str,
    times: &HashMap<String, TimeStorage>,
) -> Result<Statement> {
    let mut b = Builder {
        calendar,
        times,
        values: Vec::new(),
        zone: None,
    };
    let sql = b.pass(plan, leaves, table)?;
    Ok(Statement {
        sql,
        values: b.values,
    })
}

struct Builder<'a> {
    calendar: &'a Calendar,
    times: &'a HashMap<String, TimeStorage>,
    values: Vec<Bound>,
    /// The parameter holding the zone's name, once bound.
    zone: Option<String>,
}

impl Builder<'_> {
    fn bind(&mut self, value: Bound) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    /// A bound value read as `ty` once per statement. Times travel as text, and PostgreSQL's
    /// text-to-time casts are not immutable (they depend on session settings), so a bare
    /// `$n::timestamp[]` is cast again for every row — measured at 1 M rows: 7.3 s for a pass
    /// statement, 0.2 s with the cast in an uncorrelated subquery, which runs once.
    fn constant(&mut self, value: Bound, ty: &str) -> String {
        format!("(SELECT {}::{ty})", self.bind(value))
    }

    fn zone(&mut self) -> String {
        if let Some(z) = &self.zone {
            return z.clone();
        }
        let name = self
            .calendar
            .time_zone()
            .iana_name()
            .unwrap_or("UTC")
            .to_string();
        let z = format!("{}::text", self.bind(Bound::Text(name)));
        self.zone = Some(z.clone());
        z
    }

    fn column(&self, name: &str) -> String {
        format!("r.{}", quote_identifier(name))
    }

    /// A date or timestamp column as an instant (`timestamptz`).
    fn instant(&mut self, name: &str) -> Result<String> {
        let q = self.column(name);
        let storage = self.times.get(name).copied().ok_or_else(|| {
            EngineError::Data(format!(
                "column `{name}` is declared a date or timestamp, but the table holds no date or timestamp there"
            ))
        })?;
        Ok(match storage {
            TimeStorage::Instant => q,
            TimeStorage::LocalTimestamp => self.local(&q),
            TimeStorage::LocalDate => self.local(&format!("{q}::timestamp")),
        })
    }

    /// A wall-clock time read in the workspace's zone, repeated times at their first instant.
    fn local(&mut self, wall: &str) -> String {
        let z = self.zone();
        let c = format!("({wall} AT TIME ZONE {z})");
        let earlier = |step: &str| {
            format!(
                "WHEN (({c} - interval '{step}') AT TIME ZONE {z}) = {wall} THEN {c} - interval '{step}'"
            )
        };
        format!(
            "(CASE {} {} ELSE {c} END)",
            earlier("1 hour"),
            earlier("30 minutes")
        )
    }

    fn row(&mut self, e: &RowExpr) -> Result<String> {
        Ok(match e {
            RowExpr::Column { name, ty } => {
                if matches!(ty, ColumnType::Date | ColumnType::Timestamp) {
                    self.instant(name)?
                } else {
                    self.column(name)
                }
            }
            RowExpr::Number(n) => format!("{}::float8", self.bind(Bound::Float(*n))),
            RowExpr::String(s) => format!("{}::text", self.bind(Bound::Text(s.clone()))),
            RowExpr::Boolean(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            RowExpr::Date(d) => {
                let instant = self.calendar.date_start(*d);
                self.constant(Bound::Instant(instant), "timestamptz")
            }
            RowExpr::Null => "NULL".to_string(),
            RowExpr::Neg(x) => format!("(-{})", self.num(x)?),
            RowExpr::Not(x) => format!("(NOT {})", self.row(x)?),
            RowExpr::Arith(op, a, b) => {
                let (a, b) = (self.num(a)?, self.num(b)?);
                match op {
                    ArithOp::Add => format!("({a} + {b})"),
                    ArithOp::Sub => format!("({a} - {b})"),
                    ArithOp::Mul => format!("({a} * {b})"),
                    ArithOp::Div => format!("({a} / NULLIF({b}, 0))"),
                }
            }
            RowExpr::Compare(op, a, b) => {
                let (a, b) = (self.row(a)?, self.row(b)?);
                let op = match op {
                    CmpOp::Eq => "=",
                    CmpOp::NotEq => "<>",
                    CmpOp::Lt => "<",
                    CmpOp::LtEq => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::GtEq => ">=",
                };
                format!("({a} {op} {b})")
            }
            RowExpr::And(a, b) => format!("({} AND {})", self.row(a)?, self.row(b)?),
            RowExpr::Or(a, b) => format!("({} OR {})", self.row(a)?, self.row(b)?),
            RowExpr::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.row(expr)?;
                let items = list
                    .iter()
                    .map(|i| self.row(i))
                    .collect::<Result<Vec<_>>>()?;
                let not = if *negated { "NOT " } else { "" };
                format!("({x} {not}IN ({}))", items.join(", "))
            }
            RowExpr::IsNull { expr, negated } => {
                let not = if *negated { "NOT " } else { "" };
                format!("({} IS {not}NULL)", self.row(expr)?)
            }
            RowExpr::Between { unit, from, to } => {
                let (a, b) = (self.row(from)?, self.row(to)?);
                let seconds = self.bind(Bound::Float(unit.seconds()));
                let elapsed = format!(
                    "((EXTRACT(EPOCH FROM {b}) - EXTRACT(EPOCH FROM {a}))::float8 / {seconds}::float8)"
                );
                // Two dates are local midnights: a whole number of civil days apart.
                if is_date(from) && is_date(to) {
                    format!("round({elapsed}::numeric)::float8")
                } else {
                    elapsed
                }
            }
        })
    }

    fn num(&mut self, e: &RowExpr) -> Result<String> {
        Ok(format!("CAST({} AS float8)", self.row(e)?))
    }

    /// Instants as constants of `timeline`'s kind: themselves, or for a column of local times
    /// the first wall time reading at or after each (see [`Calendar::wall_at_or_after`]).
    fn instants(&mut self, timeline: &Timeline, ts: &[Timestamp]) -> String {
        if timeline.local {
            let walls = ts.iter().map(|t| self.calendar.wall_at_or_after(*t));
            self.constant(Bound::Walls(walls.collect()), "timestamp[]")
        } else {
            self.constant(Bound::Instants(ts.to_vec()), "timestamptz[]")
        }
    }

    fn instant_value(&mut self, timeline: &Timeline, t: Timestamp) -> String {
        if timeline.local {
            let wall = self.calendar.wall_at_or_after(t);
            self.constant(Bound::Wall(wall), "timestamp")
        } else {
            self.constant(Bound::Instant(t), "timestamptz")
        }
    }

    fn windows(&mut self, leaf: &Leaf, timeline: &Timeline) -> String {
        let idx = self.bind(Bound::Ints((0..leaf.windows.len() as i64).collect()));
        let starts: Vec<Timestamp> = leaf.windows.iter().map(|w| w.0).collect();
        let ends: Vec<Timestamp> = leaf.windows.iter().map(|w| w.1).collect();
        let (starts, ends) = (
            self.instants(timeline, &starts),
            self.instants(timeline, &ends),
        );
        format!("unnest({idx}::int8[], {starts}, {ends}) AS w(idx, ws, we)")
    }

    /// How a leaf's rows are placed in time: the column (`t`), the range's bounds and a
    /// filter on the table's own column. A column of instants is compared with instants; a
    /// column of local times (`timestamp`, `date`) is compared as it is stored with the first
    /// wall times reading at or after each bound — the same rows as converting every row to
    /// its instant, with no conversion per row, and a plain comparison an index or a
    /// partition can serve.
    fn timeline(&mut self, plan: &KpiPlan, leaf: &Leaf) -> Result<Timeline> {
        let name = &leaf.aggregate.time;
        let column = self.column(name);
        let storage = self.times.get(name).copied().ok_or_else(|| {
            EngineError::Data(format!(
                "column `{name}` is declared a date or timestamp, but the table holds no date or timestamp there"
            ))
        })?;
        let local = storage != TimeStorage::Instant;
        let t = match storage {
            TimeStorage::LocalDate => format!("{column}::timestamp"),
            _ => column.clone(),
        };
        let mut timeline = Timeline {
            column,
            t,
            lo: String::new(),
            hi: String::new(),
            local,
        };
        let (lo, hi) = leaf.time_range(plan.as_of);
        timeline.lo = self.instant_value(&timeline, lo);
        timeline.hi = self.instant_value(&timeline, hi);
        Ok(timeline)
    }

    /// Rows of `base` (with columns `t`, …, already within the time range) in the windows,
    /// each with its window's `idx`; `only` keeps some of them.
    fn indexed(&mut self, leaf: &Leaf, timeline: &Timeline, base: &str, only: &str) -> String {
        let only = if only.is_empty() {
            String::new()
        } else {
            format!(" WHERE {only}")
        };
        if leaf.contiguous() {
            let starts: Vec<Timestamp> = leaf.windows.iter().map(|w| w.0).collect();
            let starts = self.instants(timeline, &starts);
            format!(
                "(SELECT (width_bucket(s.t, {starts}) - 1)::int8 AS idx, s.* FROM ({base}) AS s{only}) AS q"
            )
        } else {
            let windows = self.windows(leaf, timeline);
            format!(
                "(SELECT w.idx, s.* FROM ({base}) AS s JOIN {windows} ON s.t >= w.ws AND s.t < w.we{only}) AS q"
            )
        }
    }

    fn pass(&mut self, plan: &KpiPlan, leaves: &[&Leaf], table: &str) -> Result<String> {
        let first = leaves
            .first()
            .ok_or_else(|| EngineError::Internal("a pass without leaves".into()))?;
        let timeline = self.timeline(plan, first)?;
        let dim = match &plan.by {
            Some(by) => format!("CAST({} AS text)", self.column(by)),
            None => "NULL::text".to_string(),
        };
        let mut columns = vec![format!("{} AS t", timeline.t), format!("{dim} AS d")];
        let mut any = Vec::new();
        let mut measures = Vec::new();
        for (j, leaf) in leaves.iter().enumerate() {
            let mut conditions = Vec::new();
            for f in leaf.filters() {
                conditions.push(self.row(f)?);
            }
            let condition = if conditions.is_empty() {
                "TRUE".to_string()
            } else {
                conditions.join(" AND ")
            };
            columns.push(format!("({condition}) AS f{j}"));
            any.push(format!("s.f{j}"));
            let a = &leaf.aggregate;
            if let Some(v) = &a.value {
                // Only the leaf's own rows compute its value: another leaf's rows must not
                // make the statement fail (PostgreSQL errors where DataFusion overflows).
                columns.push(format!(
                    "CASE WHEN ({condition}) THEN {} END AS x{j}",
                    self.row(v)?
                ));
            }
            let x = format!("CAST(q.x{j} AS float8)");
            let only = format!("FILTER (WHERE q.f{j})");
            let measure = match &a.agg {
                CheckedAgg::Count if a.value.is_some() => format!("(count(q.x{j}) {only})::float8"),
                CheckedAgg::Count => format!("(count(*) {only})::float8"),
                CheckedAgg::CountDistinct => format!("(count(DISTINCT q.x{j}) {only})::float8"),
                CheckedAgg::Sum => format!("sum({x}) {only}"),
                CheckedAgg::Avg => format!("avg({x}) {only}"),
                CheckedAgg::Min => format!("min({x}) {only}"),
                CheckedAgg::Max => format!("max({x}) {only}"),
                CheckedAgg::Median => {
                    format!("percentile_cont(0.5) WITHIN GROUP (ORDER BY {x}) {only}")
                }
                _ => {
                    return Err(EngineError::Internal(
                        "a leaf in a pass that cannot share one".into(),
                    ));
                }
            };
            measures.push(format!("{measure} AS v{j}"));
            measures.push(format!("count(*) {only} AS n{j}"));
        }
        let base = format!(
            "SELECT {} FROM {table} AS r WHERE {}",
            columns.join(", "),
            timeline.range()
        );
        let rows = self.indexed(first, &timeline, &base, &any.join(" OR "));
        Ok(format!(
            "SELECT idx, d, {} FROM {rows} GROUP BY idx, d",
            measures.join(", ")
        ))
    }

    fn leaf(&mut self, plan: &KpiPlan, leaf: &Leaf, table: &str) -> Result<String> {
        let a = &leaf.aggregate;
        let mut filters = Vec::new();
        for f in leaf.filters() {
            filters.push(self.row(f)?);
        }
        if let Some(g) = &a.group {
            filters.push(format!("{} IS NOT NULL", self.column(&g.column)));
        }
        let dim = match &plan.by {
            Some(by) => format!("CAST({} AS text)", self.column(by)),
            None => "NULL::text".to_string(),
        };
        let group = a
            .group
            .as_ref()
            .map(|g| format!("CAST({} AS text)", self.column(&g.column)));
        let mut keys = vec!["idx", "d"];
        if group.is_some() {
            keys.push("g");
        }
        let keys = keys.join(", ");

        let grouped = if let CheckedAgg::Active { start, end, at } = &a.agg {
            let as_of = self.constant(Bound::Instant(plan.as_of), "timestamptz");
            let (s, e) = (self.instant(start)?, self.instant(end)?);
            let mut where_ = vec![format!("{s} IS NOT NULL"), format!("{s} < {as_of}")];
            where_.extend(filters);
            let mut columns = vec![
                format!("{s} AS s_"),
                format!("{e} AS e_"),
                format!("{dim} AS d"),
            ];
            if let Some(g) = &group {
                columns.push(format!("{g} AS g"));
            }
            let windows = self.windows(
                leaf,
                &Timeline {
                    local: false,
                    ..Timeline::default()
                },
            );
            let active_at = |x: &str| {
                let x = format!("LEAST({x}, {as_of})");
                format!("(q.s_ <= {x} AND (q.e_ IS NULL OR q.e_ > {x}))")
            };
            let ind = |c: String| format!("sum(CASE WHEN {c} THEN 1.0 ELSE 0.0 END)");
            let measure = match at {
                ActiveAt::Start => ind(active_at("w.ws")),
                ActiveAt::End => ind(active_at("w.we")),
                ActiveAt::Average => format!(
                    "(({} + {}) / 2.0)",
                    ind(active_at("w.ws")),
                    ind(active_at("w.we"))
                ),
            };
            let g = if group.is_some() { ", q.g" } else { "" };
            format!(
                "SELECT w.idx, q.d{g}, ({measure})::float8 AS v FROM (SELECT {} FROM {table} AS r WHERE {}) AS q JOIN {windows} ON {} OR {} GROUP BY w.idx, q.d{g}",
                columns.join(", "),
                where_.join(" AND "),
                active_at("w.ws"),
                active_at("w.we"),
            )
        } else {
            let timeline = self.timeline(plan, leaf)?;
            filters.push(timeline.range());
            let mut columns = vec![format!("{} AS t", timeline.t), format!("{dim} AS d")];
            if let Some(v) = &a.value {
                columns.push(format!("{} AS x", self.row(v)?));
            }
            if let Some(g) = &group {
                columns.push(format!("{g} AS g"));
            }
            let entity = match &a.agg {
                CheckedAgg::Last { per } | CheckedAgg::First { per } => per.as_deref(),
                _ => None,
            };
            if let Some(per) = entity {
                columns.push(format!("CAST({} AS text) AS e", self.column(per)));
            }
            let snapshot = matches!(a.agg, CheckedAgg::Last { .. } | CheckedAgg::First { .. });
            if snapshot {
                // The latest point is the latest instant: two wall times can read as one.
                columns.push(format!("{} AS i", self.instant(&a.time)?));
            }
            let base = format!(
                "SELECT {} FROM {table} AS r WHERE {}",
                columns.join(", "),
                filters.join(" AND ")
            );
            // Each row's period: a binary search of its time among the windows' starts when
            // the windows follow each other, else a join to the windows.
            let rows = self.indexed(leaf, &timeline, &base, "");
            let x = "CAST(q.x AS float8)";
            match &a.agg {
                CheckedAgg::Last { .. } | CheckedAgg::First { .. } => {
                    let extreme = if matches!(a.agg, CheckedAgg::First { .. }) {
                        "min"
                    } else {
                        "max"
                    };
                    let mut partition = keys.clone();
                    if entity.is_some() {
                        partition.push_str(", e");
                    }
                    format!(
                        "SELECT {keys}, sum(CAST(z.x AS float8)) AS v FROM (SELECT q.*, {extreme}(q.i) OVER (PARTITION BY {partition}) AS point FROM {rows}) AS z WHERE z.i = z.point GROUP BY {keys}"
                    )
                }
                agg => {
                    let measure = match agg {
                        CheckedAgg::Count => match &a.value {
                            Some(_) => "count(q.x)::float8".to_string(),
                            None => "count(*)::float8".to_string(),
                        },
                        CheckedAgg::CountDistinct => "count(DISTINCT q.x)::float8".to_string(),
                        CheckedAgg::Sum => format!("sum({x})"),
                        CheckedAgg::Avg => format!("avg({x})"),
                        CheckedAgg::Min => format!("min({x})"),
                        CheckedAgg::Max => format!("max({x})"),
                        CheckedAgg::Median => {
                            format!("percentile_cont(0.5) WITHIN GROUP (ORDER BY {x})")
                        }
                        CheckedAgg::Percentile(p) => {
                            let p = self.bind(Bound::Float(*p));
                            format!("percentile_cont({p}::float8) WITHIN GROUP (ORDER BY {x})")
                        }
                        CheckedAgg::Last { .. }
                        | CheckedAgg::First { .. }
                        | CheckedAgg::Active { .. } => {
                            return Err(EngineError::Internal("unreachable aggregation".into()));
                        }
                    };
                    let nonnull = if matches!(agg, CheckedAgg::Median | CheckedAgg::Percentile(_)) {
                        " WHERE q.x IS NOT NULL"
                    } else {
                        ""
                    };
                    format!("SELECT {keys}, {measure} AS v FROM {rows}{nonnull} GROUP BY {keys}")
                }
            }
        };

        let Some(g) = &a.group else {
            return Ok(grouped);
        };
        let v = "gq.v";
        Ok(match g.function {
            GroupFunction::Max => {
                format!("SELECT idx, d, max({v}) AS v FROM ({grouped}) AS gq GROUP BY idx, d")
            }
            GroupFunction::Min => {
                format!("SELECT idx, d, min({v}) AS v FROM ({grouped}) AS gq GROUP BY idx, d")
            }
            GroupFunction::Avg => {
                format!("SELECT idx, d, avg({v}) AS v FROM ({grouped}) AS gq GROUP BY idx, d")
            }
            GroupFunction::Count => format!(
                "SELECT idx, d, count({v})::float8 AS v FROM ({grouped}) AS gq GROUP BY idx, d"
            ),
            GroupFunction::Hhi => format!(
                "SELECT idx, d, CASE WHEN sum({v}) = 0 THEN NULL ELSE 10000.0 * sum({v} * {v}) / (sum({v}) * sum({v})) END AS v FROM ({grouped}) AS gq GROUP BY idx, d"
            ),
            GroupFunction::Top(n) => {
                let n = self.bind(Bound::Float(f64::from(n)));
                format!(
                    "SELECT idx, d, sum(v) AS v FROM (SELECT gq.*, row_number() OVER (PARTITION BY idx, d ORDER BY {v} DESC NULLS LAST) AS rank FROM ({grouped}) AS gq) AS ranked WHERE rank <= {n}::float8 GROUP BY idx, d"
                )
            }
        })
    }
}

fn is_date(e: &RowExpr) -> bool {
    matches!(
        e,
        RowExpr::Date(_)
            | RowExpr::Column {
                ty: ColumnType::Date,
                ..
            }
    )
}
