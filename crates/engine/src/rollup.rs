//! Daily rollups: a source's rows summed up per local day and declared dimensions, so that
//! requests at day grain or coarser read a few thousand rows instead of millions.
//!
//! A rollup belongs to a source and one of its time columns. It is made on first use from
//! the rows the engine has loaded (so it is exactly as fresh as they are: an engine is made
//! again when the data changes), and holds, per day and combination of the source's
//! `dimensions`, the number of rows and, for every measure expression the catalog aggregates
//! decomposably over that time column, the partial results those aggregates merge: the sum
//! and the count of non-null values, the minimum and the maximum; and for every expression
//! of a `last`/`first` snapshot, the day's latest and earliest instant with the sums of the
//! expression at each ([`crate::sum_at`]). Sums are kept exact, unrounded — as the floats
//! whose exact sum they are ([`crate::exact_sum`]) — and rounded once when a window's value
//! is read, so a window's sum from the rollup has the very bits of the sum of its rows.
//!
//! A leaf reads the rollup ([`Rollup::serves`]) when its aggregate is decomposable (`count`,
//! `sum`, `avg` as sum over count, `min`, `max`) or a snapshot (`last`, `first`, with a `per`
//! column that is a declared dimension), a `per` group column is a declared dimension, every
//! filter on it names only declared dimensions, a `--by` dimension is declared, and no window
//! boundary falls inside a day that has rows. A window's snapshot is then the sum at the
//! latest (earliest) of its days' instants, of the days (and dimension values) whose own
//! latest (earliest) instant it is. The day of the as-of instant is read from the rows
//! themselves: a rollup day holds rows up to its end, and the computation must not see those
//! after as-of. `count_distinct`, `median` and percentiles always read rows, and so does
//! every leaf run on a cluster.
//!
//! An `active` measure has a rollup of its own, of intervals ([`Spec::intervals`]): rows
//! counted per *representative* of their start and of their end and per dimensions. The
//! representative of an instant is itself on a day start and one microsecond after its day's
//! start otherwise, so that for every day start `x`, `start <= x` and `end > x` hold of the
//! representatives exactly when they hold of the instants: an interval is active at a day
//! start as its representatives are. A leaf whose instants are all day starts reads the
//! rollup alone; one whose period in progress ends at as-of (not a day start) reads the
//! intervals that start on as-of's day or end on it from the rows themselves, and the others
//! from the rollup.
//!
//! A rollup is kept in the workspace's `.tablero/cache/rollups/`, one Parquet file per source
//! and time column whose metadata names what it was made from (the zone, the measures, the
//! file's size and time or the store table's version and files): the next process reads it
//! back while that holds, extends it with the files a store table gained since by appends,
//! and builds it again otherwise (compaction, a changed file or catalog).
//!
//! Results are the same with and without rollups, to the last bit (the hand-worked cases and
//! the example's catalog run both ways; `TABLERO_ROLLUPS=off` turns them off).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimestampMicrosecondType};
use datafusion::common::Column;
use datafusion::datasource::MemTable;
use datafusion::functions::expr_fn::nullif;
// DataFusion's `sum` only for row counts (integers, exact); floats through `exact_sum`.
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum as integer_sum};
use datafusion::functions_nested::expr_fn::make_array;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, cast, col, lit, when,
};
use datafusion::prelude::SessionContext;
use jiff::Timestamp;
use tablero_calendar::Calendar;
use tablero_formula::Catalog;
use tablero_formula::CheckedTarget;
use tablero_formula::ir::{CheckedAgg, Formula, RowExpr};
use tablero_model::Source;

use crate::compile::{
    DIM, E, G, IDX, T, V, active, column, first_leaf, micros, pass_condition, pass_conditions,
    pass_rows, pass_value, per_group, row_expr, stored_range, windowed,
};
use crate::error::{EngineError, Result};
use crate::exact_sum;
use crate::load::DataVersion;
use crate::plan::{KpiPlan, Leaf};
use crate::sum_at::{self, End};

/// The rollup column holding the instant a row's local day starts (for intervals, the
/// representative of their start).
const DAY: &str = "__day";
/// The representative of an interval's end (an interval rollup's).
const UNTIL: &str = "__until";
/// An interval row's weight: how many intervals it stands for.
const WEIGHT: &str = "__w";
/// The rows of the source a rollup row sums up.
const ROWS: &str = "__rows";

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
/// The sums of snapshot expression `k` at a rollup row's latest and earliest instant.
fn latest_of(k: usize) -> String {
    format!("__ls{k}")
}
fn earliest_of(k: usize) -> String {
    format!("__fs{k}")
}

/// Whether an aggregation merges from per-day partial results.
pub fn decomposable(agg: &CheckedAgg) -> bool {
    matches!(
        agg,
        CheckedAgg::Count | CheckedAgg::Sum | CheckedAgg::Avg | CheckedAgg::Min | CheckedAgg::Max
    )
}

/// Whether a leaf is of a kind a rollup may serve (decomposable or a snapshot), before
/// anything is built for it.
pub fn may_serve(leaf: &Leaf) -> bool {
    let agg = &leaf.aggregate.agg;
    decomposable(agg)
        || matches!(
            agg,
            CheckedAgg::Last { .. } | CheckedAgg::First { .. } | CheckedAgg::Active { .. }
        )
}

/// The end column of an `active` leaf, whose rollup is one of intervals.
pub fn until(leaf: &Leaf) -> Option<&str> {
    match &leaf.aggregate.agg {
        CheckedAgg::Active { end, .. } => Some(end),
        _ => None,
    }
}

/// The representative of instant `t` in an interval rollup: `t` itself on a day start, one
/// microsecond after its day's start otherwise (see the module's documentation).
fn representative(t: Expr, calendar: &Calendar) -> Result<Expr> {
    let day = || crate::local_day::call(t.clone(), calendar);
    let micro = lit(datafusion::common::ScalarValue::new_interval_mdn(
        0, 0, 1_000,
    ));
    Ok(when(day().eq(t.clone()), instant(t.clone())).otherwise(day() + micro)?)
}

/// An instant as the engine's plain microsecond timestamp.
fn instant(t: Expr) -> Expr {
    cast(
        t,
        DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
    )
}

/// The snapshot a leaf takes: which end of the window, and each value of which column has its
/// own (`per`). `None` for other aggregations.
fn snapshot(agg: &CheckedAgg) -> Option<(End, Option<&str>)> {
    match agg {
        CheckedAgg::Last { per } => Some((End::Latest, per.as_deref())),
        CheckedAgg::First { per } => Some((End::Earliest, per.as_deref())),
        _ => None,
    }
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
    /// Every expression of a `last`/`first` over `time` in the catalog; each has the sums at
    /// the rollup row's latest and earliest instant.
    pub snapshots: Vec<RowExpr>,
    /// For a rollup of intervals (`active`), their end column; `time` is their start.
    pub until: Option<String>,
}

impl Spec {
    /// The rollup `catalog` needs for `source` over its column `time`.
    pub fn of(catalog: &Catalog, source: &Source, time: &str) -> Spec {
        let mut values: Vec<(RowExpr, bool)> = Vec::new();
        let mut snapshots: Vec<RowExpr> = Vec::new();
        let mut add = |f: &Formula| {
            let Formula::Aggregate(a) = f else { return };
            if a.source != source.name.value || a.time != time {
                return;
            }
            let Some(v) = &a.value else { return };
            if snapshot(&a.agg).is_some() {
                if !snapshots.contains(v) {
                    snapshots.push(v.clone());
                }
                return;
            }
            if !decomposable(&a.agg) {
                return;
            }
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
            snapshots,
            until: None,
        }
    }

    /// The rollup of the intervals `[start, end)` of `source`, for its `active` measures.
    pub fn intervals(source: &Source, start: &str, end: &str) -> Spec {
        Spec {
            source: source.name.value.clone(),
            time: start.to_string(),
            dims: source.dimensions.iter().map(|d| d.value.clone()).collect(),
            values: Vec::new(),
            snapshots: Vec::new(),
            until: Some(end.to_string()),
        }
    }

    fn value_index(&self, v: &RowExpr) -> Option<usize> {
        self.values.iter().position(|(x, _)| x == v)
    }

    fn snapshot_index(&self, v: &RowExpr) -> Option<usize> {
        self.snapshots.iter().position(|x| x == v)
    }

    fn keyed(&self, column: &str) -> bool {
        self.dims.iter().any(|d| d == column)
    }

    /// The partial-result columns after the dimensions, in order: the rows, the latest and
    /// earliest instant, each value's, each snapshot's.
    fn partial_columns(&self) -> Vec<String> {
        let mut columns = vec![ROWS.to_string(), LAST.to_string(), FIRST.to_string()];
        for (k, (_, numeric)) in self.values.iter().enumerate() {
            columns.push(count_of(k));
            if *numeric {
                columns.extend([sum_of(k), min_of(k), max_of(k)]);
            }
        }
        for k in 0..self.snapshots.len() {
            columns.extend([latest_of(k), earliest_of(k)]);
        }
        columns
    }
}

/// How a rollup came to be, for `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// From the source's rows, now.
    Built,
    /// Read from the workspace's cache folder, made from the same data before.
    Kept,
    /// Kept at an older version of a store table, with the rows of the files appended since.
    Extended { from: u64, files: usize },
}

/// A built rollup, held by the engine.
pub struct Rollup {
    pub spec: Spec,
    pub origin: Origin,
    /// The first instant of the first day with rows, and the end of the last.
    first: Option<Timestamp>,
    end: Option<Timestamp>,
    /// The latest time of any row.
    last: Option<Timestamp>,
    /// Rows of the rollup, and of the source it sums up.
    pub rows: usize,
    pub source_rows: usize,
    batches: Vec<RecordBatch>,
    table: Arc<MemTable>,
}

/// Why no rollup serves a source: kept so the engine does not try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRollup {
    /// The source has no rows with a time.
    Empty,
    /// The rollup would not be much smaller than the rows.
    TooFine,
}

/// The latest and the earliest time of the rows a rollup row sums up.
const LAST: &str = "__last";
const FIRST: &str = "__first";

/// The rollup rows of `spec` over `scan` (the source's rows as the engine loads them, or some
/// of them): one pass.
pub async fn partials(
    ctx: &SessionContext,
    calendar: &Calendar,
    spec: &Spec,
    scan: LogicalPlan,
) -> Result<Vec<RecordBatch>> {
    let t = column(&spec.time);
    let day = match &spec.until {
        None => crate::local_day::call(t.clone(), calendar),
        Some(_) => representative(t.clone(), calendar)?,
    };
    let mut projection = vec![day.alias(DAY), t.clone().alias(T)];
    let mut keys = vec![col(DAY)];
    if let Some(end) = &spec.until {
        projection.push(representative(column(end), calendar)?.alias(UNTIL));
        keys.push(col(UNTIL));
    }
    for d in &spec.dims {
        projection.push(column(d).alias(d.as_str()));
        keys.push(col(Column::from_name(d.as_str())));
    }
    let mut partials = vec![
        count(lit(1)).alias(ROWS),
        max(col(T)).alias(LAST),
        min(col(T)).alias(FIRST),
    ];
    for (k, (v, numeric)) in spec.values.iter().enumerate() {
        let x = format!("__x{k}");
        projection.push(row_expr(calendar, v).alias(x.as_str()));
        partials.push(count(col(x.as_str())).alias(count_of(k)));
        if *numeric {
            let fx = || cast(col(x.as_str()), DataType::Float64);
            partials.push(exact_sum::parts(fx()).alias(sum_of(k)));
            partials.push(min(fx()).alias(min_of(k)));
            partials.push(max(fx()).alias(max_of(k)));
        }
    }
    for (k, v) in spec.snapshots.iter().enumerate() {
        let x = format!("__y{k}");
        projection.push(cast(row_expr(calendar, v), DataType::Float64).alias(x.as_str()));
        for (end, name) in [(End::Latest, latest_of(k)), (End::Earliest, earliest_of(k))] {
            partials.push(sum_at::parts(end, col(x.as_str()), col(T)).alias(name));
        }
    }
    let plan = LogicalPlanBuilder::from(scan)
        .filter(t.is_not_null())?
        .project(projection)?
        .aggregate(keys, partials)?
        .build()?;
    Ok(ctx.execute_logical_plan(plan).await?.collect().await?)
}

/// Rollup rows of the same days and dimensions merged into one: what a kept rollup and the
/// rows appended since make together.
pub async fn merge(
    ctx: &SessionContext,
    spec: &Spec,
    kept: Vec<RecordBatch>,
    added: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    let Some(schema) = kept.first().map(RecordBatch::schema) else {
        return Ok(added);
    };
    let mut all = kept;
    for batch in added {
        all.push(crate::load::cast_batch(&batch, &schema)?);
    }
    let table = Arc::new(MemTable::try_new(schema, vec![all])?);
    let name = |n: &str| col(Column::from_name(n));
    let mut keys = vec![col(DAY)];
    if spec.until.is_some() {
        keys.push(col(UNTIL));
    }
    keys.extend(spec.dims.iter().map(|d| name(d)));
    let mut merged = vec![
        integer_sum(col(ROWS)).alias(ROWS),
        max(col(LAST)).alias(LAST),
        min(col(FIRST)).alias(FIRST),
    ];
    for (k, (_, numeric)) in spec.values.iter().enumerate() {
        merged.push(integer_sum(name(&count_of(k))).alias(count_of(k)));
        if *numeric {
            merged.push(exact_sum::parts(name(&sum_of(k))).alias(sum_of(k)));
            merged.push(min(name(&min_of(k))).alias(min_of(k)));
            merged.push(max(name(&max_of(k))).alias(max_of(k)));
        }
    }
    // A day's snapshot sums, each at its own instant, merge as the rows they sum would.
    for k in 0..spec.snapshots.len() {
        let latest = sum_at::parts(End::Latest, name(&latest_of(k)), col(LAST));
        let earliest = sum_at::parts(End::Earliest, name(&earliest_of(k)), col(FIRST));
        merged.push(latest.alias(latest_of(k)));
        merged.push(earliest.alias(earliest_of(k)));
    }
    let plan = LogicalPlanBuilder::scan(
        "__kept",
        datafusion::datasource::provider_as_source(table),
        None,
    )?
    .aggregate(keys, merged)?
    .build()?;
    Ok(ctx.execute_logical_plan(plan).await?.collect().await?)
}

/// The key under which a kept rollup's file stores what it was made from.
const KEPT_KEY: &str = "tablero.rollup";
/// The first line of that text: a rollup kept by another layout is made again (3: sums kept
/// as exact parts, not rounded floats; 4: a file's data version by the hash of its bytes).
const KEPT_FORMAT: &str = "tablero rollup 4";

/// A rollup read back from the workspace's cache folder, with what it was made from.
pub struct Kept {
    pub version: DataVersion,
    pub batches: Vec<RecordBatch>,
}

/// The file keeping the rollup of `spec` in `dir`.
fn kept_path(dir: &Path, spec: &Spec) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let plain = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&spec.source, &spec.time, &spec.until).hash(&mut hasher);
    dir.join(format!(
        "{}-{}-{:016x}.parquet",
        plain(&spec.source),
        plain(&spec.time),
        hasher.finish()
    ))
}

/// What a kept rollup says of itself: the format, the zone, the spec, the data.
fn kept_text(spec: &Spec, zone: &str, version: &DataVersion) -> String {
    let mut lines = vec![
        KEPT_FORMAT.to_string(),
        format!("zone {zone}"),
        format!("spec {spec:?}"),
    ];
    match version {
        DataVersion::File { content } => lines.push(format!("file {content}")),
        DataVersion::Store { version, files } => {
            lines.push(format!("store {version}"));
            lines.extend(files.iter().map(|f| format!("data {f}")));
        }
    }
    lines.join("\n")
}

/// The data version a kept rollup's text names, when the rest matches `spec` and `zone`.
fn kept_version(text: &str, spec: &Spec, zone: &str) -> Option<DataVersion> {
    let mut lines = text.lines();
    if lines.next()? != KEPT_FORMAT
        || lines.next()? != format!("zone {zone}")
        || lines.next()? != format!("spec {spec:?}")
    {
        return None;
    }
    let data = lines.next()?;
    if let Some(content) = data.strip_prefix("file ") {
        return Some(DataVersion::File {
            content: content.to_string(),
        });
    }
    let version = data.strip_prefix("store ")?.parse().ok()?;
    let files = lines
        .map(|l| l.strip_prefix("data ").map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    Some(DataVersion::Store { version, files })
}

/// The rollup of `spec` kept in `dir`, when there is one made for `zone`; a file that cannot
/// be read is as good as none (it is made again).
pub fn read_kept(dir: &Path, spec: &Spec, zone: &str) -> Option<Kept> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(kept_path(dir, spec)).ok()?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
    let text = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == KEPT_KEY)?
        .value
        .clone()?;
    let version = kept_version(&text, spec, zone)?;
    let batches = builder
        .build()
        .ok()?
        .collect::<std::result::Result<Vec<_>, _>>()
        .ok()?;
    Some(Kept { version, batches })
}

/// A column by its exact name.
fn named(name: &str) -> Expr {
    col(Column::from_name(name))
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
    /// A rollup of `spec` from its rows (columns `__day`, `__rows`, `__last`, then the
    /// dimensions and partial results, as [`build`] makes them).
    pub fn from_batches(
        calendar: &Calendar,
        spec: Spec,
        batches: Vec<RecordBatch>,
        origin: Origin,
    ) -> Result<std::result::Result<Rollup, NoRollup>> {
        let mut rows = 0;
        let mut source_rows = 0;
        let (mut first, mut last): (Option<i64>, Option<i64>) = (None, None);
        for batch in &batches {
            rows += batch.num_rows();
            let column = |name: &str| {
                batch.column_by_name(name).ok_or_else(|| {
                    EngineError::Internal(format!("a rollup without its column `{name}`"))
                })
            };
            let counted = column(ROWS)?
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| {
                    EngineError::Internal("a rollup's row counts are not integers".into())
                })?;
            source_rows += counted.iter().flatten().sum::<i64>() as usize;
            let instants = |name: &str| -> Result<Option<(i64, i64)>> {
                let c = column(name)?
                    .as_primitive_opt::<TimestampMicrosecondType>()
                    .ok_or_else(|| {
                        EngineError::Internal(format!("a rollup's `{name}` is not an instant"))
                    })?;
                Ok(datafusion::arrow::compute::min(c).zip(datafusion::arrow::compute::max(c)))
            };
            if let Some((lo, _)) = instants(DAY)? {
                first = Some(first.map_or(lo, |f| f.min(lo)));
            }
            if let Some((_, hi)) = instants(LAST)? {
                last = Some(last.map_or(hi, |l| l.max(hi)));
            }
        }
        if rows > 10_000 && rows.saturating_mul(4) > source_rows {
            return Ok(Err(NoRollup::TooFine));
        }
        let instant = |m: i64| Timestamp::from_microsecond(m).ok();
        let last = last.and_then(instant);
        let end = last.map(|l| calendar.day_end(l));
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => return Ok(Err(NoRollup::Empty)),
        };
        let mut partitions = vec![Vec::new(), Vec::new()];
        for (i, batch) in batches.iter().enumerate() {
            partitions[i % 2].push(batch.clone());
        }
        let table = Arc::new(MemTable::try_new(schema, partitions)?);
        tracing::info!(
            source = %spec.source,
            time = %spec.time,
            rows,
            source_rows,
            ?origin,
            "daily rollup ready"
        );
        Ok(Ok(Rollup {
            spec,
            origin,
            first: first.and_then(instant),
            end,
            last,
            rows,
            source_rows,
            batches,
            table,
        }))
    }

    /// Whether this rollup gives `leaf` of `plan` exactly the value its rows would.
    pub fn serves(&self, calendar: &Calendar, plan: &KpiPlan, leaf: &Leaf) -> bool {
        let a = &leaf.aggregate;
        if a.source != self.spec.source || a.time != self.spec.time {
            return false;
        }
        let measured = match (snapshot(&a.agg), &a.value) {
            _ if self.spec.until.is_some() || until(leaf).is_some() => {
                self.spec.until.as_deref() == until(leaf)
            }
            (Some((_, per)), Some(v)) => {
                per.is_none_or(|p| self.spec.keyed(p)) && self.spec.snapshot_index(v).is_some()
            }
            (Some(_), None) => false,
            (None, _) if !decomposable(&a.agg) => false,
            (None, Some(v)) => {
                let numeric = !matches!(a.agg, CheckedAgg::Count);
                self.spec
                    .value_index(v)
                    .is_some_and(|k| !numeric || self.spec.values[k].1)
            }
            (None, None) => matches!(a.agg, CheckedAgg::Count),
        };
        if !measured
            || a.group
                .as_ref()
                .is_some_and(|g| !self.spec.keyed(&g.column))
        {
            return false;
        }
        if plan.by.as_ref().is_some_and(|d| !self.spec.keyed(d)) {
            return false;
        }
        let mut named = HashSet::new();
        leaf.filters().for_each(|f| columns(f, &mut named));
        if !named.iter().all(|c| self.spec.keyed(c)) {
            return false;
        }
        if self.spec.until.is_some() {
            // Intervals are counted at window boundaries: each a day start, or as-of itself,
            // whose day is read from rows.
            return leaf
                .counted_at(plan.as_of)
                .all(|x| x == plan.as_of || calendar.day_start(x) == x);
        }
        // A boundary inside a day with rows would split what the rollup keeps whole.
        let (Some(first), Some(end)) = (self.first, self.end) else {
            return true;
        };
        let today = calendar.day_start(plan.as_of);
        leaf.windows
            .iter()
            .flat_map(|(s, e)| [*s, *e])
            .all(|b| b <= first || b >= end || b >= today || calendar.day_start(b) == b)
    }

    /// Whether `leaves` (one shared pass: same source, time column and windows) read this
    /// rollup: when it [`serves`](Rollup::serves) every one of them. A pass some of whose
    /// leaves read rows reads them all from rows, in the one scan it makes anyway: split,
    /// the rollup's pass may scan again for as-of's day, and the rows' pass, its leaves all
    /// filtered, has its filter pushed into the Parquet reader, which costs more than it
    /// saves (10 M-row store table: 1.39 s split, 0.87 s whole).
    pub fn reads(&self, calendar: &Calendar, plan: &KpiPlan, leaves: &[&Leaf]) -> bool {
        !leaves.is_empty() && leaves.iter().all(|leaf| self.serves(calendar, plan, leaf))
    }

    /// The rows of the source a plan of this rollup for `leaf` reads besides the rollup, as a
    /// condition on a scan of the source (with `scan`'s schema): those of as-of's own day in
    /// the leaf's time range or, for intervals counted at as-of, those starting or ending on
    /// as-of's day (see [`Rollup::intervals`]). `None` when it reads none.
    pub fn rows_read(
        &self,
        calendar: &Calendar,
        plan: &KpiPlan,
        leaf: &Leaf,
        scan: &datafusion::common::DFSchema,
    ) -> Option<Expr> {
        let as_of = plan.as_of;
        let today = calendar.day_start(as_of);
        let t = column(&self.spec.time);
        if let Some(end) = &self.spec.until {
            if leaf.counted_at(as_of).all(|x| calendar.day_start(x) == x) {
                return None;
            }
            let today_end = calendar.day_end(as_of);
            let e = column(end);
            let starts_or_ends_today = t
                .clone()
                .gt(micros(today))
                .or(e.clone().gt(micros(today)).and(e.lt_eq(micros(today_end))));
            return Some(
                t.clone()
                    .is_not_null()
                    .and(t.lt(micros(as_of)))
                    .and(starts_or_ends_today),
            );
        }
        let (lo, hi) = leaf.time_range(as_of);
        if hi <= today || self.last.is_none_or(|l| l < today) {
            return None;
        }
        let from = lo.max(today);
        let range = t
            .clone()
            .is_not_null()
            .and(t.clone().gt_eq(micros(from)))
            .and(t.lt(micros(hi)));
        Some(
            match stored_range(calendar, scan, &self.spec.time, (from, hi)) {
                Some(stored) => range.and(stored),
                None => range,
            },
        )
    }

    /// What `leaf` reads in place of its source's rows: the rollup's whole days within its
    /// time range before as-of's day, and the rows of as-of's own day — when there are any —
    /// from `scan`, the source itself, each as a rollup row of one row. Columns: `__t` (a
    /// rollup row's day start, a row's time), the dimensions, then
    /// [`Spec::partial_columns`].
    fn input(
        &self,
        calendar: &Calendar,
        plan: &KpiPlan,
        leaf: &Leaf,
        scan: LogicalPlan,
    ) -> Result<LogicalPlanBuilder> {
        let (lo, hi) = leaf.time_range(plan.as_of);
        let today = calendar.day_start(plan.as_of);
        let whole_days_end = hi.min(today);
        let mut kept = vec![col(DAY).alias(T)];
        kept.extend(self.input_columns()[1..].iter().map(|c| named(c)));
        let provider = datafusion::datasource::provider_as_source(self.table.clone());
        let from_rollup = LogicalPlanBuilder::scan("__rollup", provider, None)?
            .filter(
                col(DAY)
                    .gt_eq(micros(lo))
                    .and(col(DAY).lt(micros(whole_days_end))),
            )?
            .project(kept)?;
        let Some(range) = self.rows_read(calendar, plan, leaf, scan.schema()) else {
            return Ok(from_rollup);
        };
        let t = column(&self.spec.time);
        let mut p = vec![t.clone().alias(T)];
        p.extend(self.spec.dims.iter().map(|d| column(d).alias(d.as_str())));
        p.extend([
            lit(1_i64).alias(ROWS),
            t.clone().alias(LAST),
            t.alias(FIRST),
        ]);
        for (k, (v, numeric)) in self.spec.values.iter().enumerate() {
            let x = || row_expr(calendar, v);
            p.push(
                when(x().is_null(), lit(0_i64))
                    .otherwise(lit(1_i64))?
                    .alias(count_of(k)),
            );
            if *numeric {
                // A row's sum is its value alone, as parts.
                let fx = || cast(x(), DataType::Float64);
                p.push(make_array(vec![fx()]).alias(sum_of(k)));
                for name in [min_of(k), max_of(k)] {
                    p.push(fx().alias(name));
                }
            }
        }
        for (k, v) in self.spec.snapshots.iter().enumerate() {
            for name in [latest_of(k), earliest_of(k)] {
                let fx = cast(row_expr(calendar, v), DataType::Float64);
                p.push(make_array(vec![fx]).alias(name));
            }
        }
        let today_rows = LogicalPlanBuilder::from(scan).filter(range)?.project(p)?;
        Ok(from_rollup.union(today_rows.build()?)?)
    }

    /// The intervals an `active` leaf counts, in place of its source's rows: columns `__s` and
    /// `__e` (representatives from the rollup, instants from rows), `__w` (how many intervals
    /// a row stands for) and the dimensions. When every instant the leaf counts at is a day
    /// start, the rollup alone. Otherwise (as-of, in as-of's day `[c, c_end)`, is one), the
    /// intervals starting after `c` or ending in `(c, c_end]` from `scan`, the others from the
    /// rollup: their representatives and their instants agree at `c`, at every day start
    /// before it, and at as-of.
    fn intervals(
        &self,
        calendar: &Calendar,
        plan: &KpiPlan,
        leaf: &Leaf,
        end: &str,
        scan: LogicalPlan,
    ) -> Result<LogicalPlanBuilder> {
        let as_of = plan.as_of;
        let today = self.rows_read(calendar, plan, leaf, scan.schema());
        let day_starts = today.is_none();
        let (c, c_end) = (calendar.day_start(as_of), calendar.day_end(as_of));
        let mut p = vec![
            col(DAY).alias("__s"),
            col(UNTIL).alias("__e"),
            col(ROWS).alias(WEIGHT),
        ];
        p.extend(self.spec.dims.iter().map(|d| named(d)));
        // Nothing starting at or after as-of is known (a representative before as-of, a day
        // start, stands for instants before it).
        let kept = match day_starts {
            true => col(DAY).lt(micros(as_of)),
            false => col(DAY).lt_eq(micros(c)).and(
                col(UNTIL)
                    .is_null()
                    .or(col(UNTIL).lt_eq(micros(c)))
                    .or(col(UNTIL).gt(micros(c_end))),
            ),
        };
        let provider = datafusion::datasource::provider_as_source(self.table.clone());
        let from_rollup = LogicalPlanBuilder::scan("__rollup", provider, None)?
            .filter(kept)?
            .project(p)?;
        let Some(today) = today else {
            return Ok(from_rollup);
        };
        let (s, e) = (column(&self.spec.time), column(end));
        let mut p = vec![
            instant(s).alias("__s"),
            instant(e).alias("__e"),
            lit(1_i64).alias(WEIGHT),
        ];
        p.extend(self.spec.dims.iter().map(|d| column(d).alias(d.as_str())));
        let rows = LogicalPlanBuilder::from(scan).filter(today)?.project(p)?;
        Ok(from_rollup.union(rows.build()?)?)
    }

    /// The columns of [`Rollup::input`], by name.
    fn input_columns(&self) -> Vec<String> {
        let mut columns = vec![T.to_string()];
        columns.extend(self.spec.dims.iter().cloned());
        columns.extend(self.spec.partial_columns());
        columns
    }

    /// One pass over the rollup for leaves it [`serves`](Rollup::serves) that share their
    /// windows (as [`crate::compile::pass_plan`] over rows, with the same columns).
    pub fn pass_plan(
        &self,
        calendar: &Calendar,
        plan: &KpiPlan,
        leaves: &[&Leaf],
        scan: LogicalPlan,
    ) -> Result<LogicalPlan> {
        let first = first_leaf(leaves)?;
        let input = self.input(calendar, plan, first, scan)?;
        let mut projection: Vec<Expr> = self.input_columns().iter().map(|c| named(c)).collect();
        if let Some(by) = &plan.by {
            projection.push(cast(column(by), DataType::Utf8).alias(DIM));
        }
        let (conditions, any) = pass_conditions(calendar, leaves);
        projection.extend(conditions);
        let rows = windowed(input.project(projection)?.filter(any)?, first)?;

        let mut keys = vec![col(IDX)];
        if plan.by.is_some() {
            keys.push(col(DIM));
        }
        let mut measures = Vec::new();
        for (j, leaf) in leaves.iter().enumerate() {
            let only = |e: Expr| e.filter(col(pass_condition(j))).build();
            let measure = self.measure(leaf, &only)?;
            measures.push(measure.alias(pass_value(j)));
            measures.push(only(integer_sum(col(ROWS)))?.alias(pass_rows(j)));
        }
        Ok(rows.aggregate(keys, measures)?.build()?)
    }

    /// A decomposable leaf's aggregate over rollup rows, each aggregate given to `only` (a
    /// pass's filter for the leaf, or nothing).
    fn measure(
        &self,
        leaf: &Leaf,
        only: &dyn Fn(Expr) -> datafusion::common::Result<Expr>,
    ) -> Result<Expr> {
        let a = &leaf.aggregate;
        let k = a.value.as_ref().and_then(|v| self.spec.value_index(v));
        let partial = |name: &dyn Fn(usize) -> String| -> Result<Expr> {
            let k = k.ok_or_else(|| {
                EngineError::Internal("a rollup leaf's measure is not in the rollup".into())
            })?;
            Ok(col(Column::from_name(name(k))))
        };
        let total = |e: Expr| only(integer_sum(e));
        Ok(match &a.agg {
            CheckedAgg::Count => match k {
                Some(_) => cast(total(partial(&count_of)?)?, DataType::Float64),
                None => cast(total(col(ROWS))?, DataType::Float64),
            },
            // The days' exact parts summed and rounded once: the rows' own sum.
            CheckedAgg::Sum => only(exact_sum::sum(partial(&sum_of)?))?,
            CheckedAgg::Avg => {
                let n = cast(total(partial(&count_of)?)?, DataType::Float64);
                only(exact_sum::sum(partial(&sum_of)?))? / nullif(n, lit(0.0))
            }
            CheckedAgg::Min => only(min(partial(&min_of)?))?,
            CheckedAgg::Max => only(max(partial(&max_of)?))?,
            _ => {
                return Err(EngineError::Internal(
                    "a leaf the rollup cannot serve".into(),
                ));
            }
        })
    }

    /// One leaf the rollup [`serves`](Rollup::serves), alone — `per` groups and snapshots
    /// included: columns `__idx`, `__dim` under `--by`, and `__v`, as
    /// [`crate::compile::lower_leaf`] gives from rows.
    pub fn leaf_plan(
        &self,
        calendar: &Calendar,
        plan: &KpiPlan,
        leaf: &Leaf,
        scan: LogicalPlan,
    ) -> Result<LogicalPlan> {
        let a = &leaf.aggregate;
        let mut rows = match &a.agg {
            CheckedAgg::Active { end, .. } => self.intervals(calendar, plan, leaf, end, scan)?,
            _ => self.input(calendar, plan, leaf, scan)?,
        };
        let mut filters: Vec<Expr> = leaf.filters().map(|f| row_expr(calendar, f)).collect();
        // Rows without a `per` value belong to no group, as when read from rows.
        if let Some(g) = &a.group {
            filters.push(column(&g.column).is_not_null());
        }
        if let Some(f) = filters.into_iter().reduce(Expr::and) {
            rows = rows.filter(f)?;
        }
        let kept = match self.spec.until {
            Some(_) => vec!["__s".to_string(), "__e".to_string(), WEIGHT.to_string()],
            None => self.input_columns(),
        };
        let mut projection: Vec<Expr> = kept.iter().map(|c| named(c)).collect();
        let mut keys = vec![col(IDX)];
        if let Some(by) = &plan.by {
            projection.push(cast(column(by), DataType::Utf8).alias(DIM));
            keys.push(col(DIM));
        }
        if let Some(g) = &a.group {
            projection.push(column(&g.column).alias(G));
            keys.push(col(G));
        }
        let taken = snapshot(&a.agg);
        if let Some((_, Some(per))) = taken {
            projection.push(column(per).alias(E));
        }
        if let CheckedAgg::Active { at, .. } = &a.agg {
            let counted = active(
                plan,
                leaf,
                *at,
                rows.project(projection)?,
                &keys,
                col(WEIGHT),
            )?;
            return Ok(match &a.group {
                Some(g) => per_group(plan, g, counted)?,
                None => counted,
            }
            .build()?);
        }
        let rows = windowed(rows.project(projection)?, leaf)?;
        let grouped = match taken {
            Some((end, per)) => {
                let k = a
                    .value
                    .as_ref()
                    .and_then(|v| self.spec.snapshot_index(v))
                    .ok_or_else(|| {
                        EngineError::Internal(
                            "a rollup leaf's snapshot is not in the rollup".into(),
                        )
                    })?;
                let (sums, at) = match end {
                    End::Latest => (latest_of(k), LAST),
                    End::Earliest => (earliest_of(k), FIRST),
                };
                let sums = || col(Column::from_name(sums.clone()));
                match per {
                    None => {
                        rows.aggregate(keys, vec![sum_at::call(end, sums(), col(at)).alias(V)])?
                    }
                    // Each value of the `per` column its own snapshot, then their sum — exact
                    // throughout and rounded once, as the sum of the rows at their points.
                    Some(_) => {
                        let mut each = keys.clone();
                        each.push(col(E));
                        let at = sum_at::parts(end, sums(), col(at)).alias(V);
                        rows.aggregate(each, vec![at])?
                            .aggregate(keys, vec![exact_sum::sum(col(V)).alias(V)])?
                    }
                }
            }
            None => {
                let measure = self.measure(leaf, &|e| Ok(e))?;
                rows.aggregate(keys, vec![measure.alias(V)])?
            }
        };
        let result = match &a.group {
            Some(g) => per_group(plan, g, grouped)?,
            None => grouped,
        };
        Ok(result.build()?)
    }

    /// Keeps this rollup in `dir` as made from `version` of its source's data, for the next
    /// process: written under a temporary name and renamed, so a reader never sees half a file.
    pub fn keep(&self, dir: &Path, zone: &str, version: &DataVersion) -> Result<()> {
        use datafusion::parquet::arrow::ArrowWriter;
        use datafusion::parquet::file::metadata::KeyValue;
        use datafusion::parquet::file::properties::WriterProperties;
        let target = kept_path(dir, &self.spec);
        let io = |err: std::io::Error| {
            EngineError::Internal(format!("cannot write {}: {err}", target.display()))
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let partial = target.with_extension(format!("{}.partial", std::process::id()));
        let Some(schema) = self.batches.first().map(RecordBatch::schema) else {
            return Ok(());
        };
        let properties = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![KeyValue::new(
                KEPT_KEY.to_string(),
                kept_text(&self.spec, zone, version),
            )]))
            .build();
        let parquet = |e: datafusion::parquet::errors::ParquetError| {
            EngineError::Internal(format!("cannot write {}: {e}", partial.display()))
        };
        let file = std::fs::File::create(&partial).map_err(io)?;
        let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(parquet)?;
        for batch in &self.batches {
            writer.write(batch).map_err(parquet)?;
        }
        let file = writer.into_inner().map_err(parquet)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&partial, &target).map_err(io)?;
        Ok(())
    }

    /// What `explain` says of this rollup.
    pub fn describe(&self) -> String {
        let by = if self.spec.dims.is_empty() {
            String::new()
        } else {
            format!(" × {}", self.spec.dims.join(" × "))
        };
        let origin = match self.origin {
            Origin::Built => "built now".to_string(),
            Origin::Kept => "kept from an earlier computation of the same data".to_string(),
            Origin::Extended { from, files } => format!(
                "kept at store version {from}, extended with the {files} file(s) appended since"
            ),
        };
        match &self.spec.until {
            None => format!(
                "the daily rollup of `{}` by `{}` (day{by}: {} rows for {} source rows; {origin})",
                self.spec.source, self.spec.time, self.rows, self.source_rows
            ),
            Some(end) => format!(
                "the daily rollup of the intervals of `{}` from `{}` to `{end}` (start day × end \
                 day{by}: {} rows for {} source rows; {origin})",
                self.spec.source, self.spec.time, self.rows, self.source_rows
            ),
        }
    }
}
