//! Computing KPIs: resolving a request into periods, running each KPI's plan, and judging
//! every value against its target (SPEC §4–§6).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, Float64Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use jiff::Timestamp;
use tablero_calendar::{Calendar, Grain, Period};
use tablero_formula::ir::{Formula, RowExpr};
use tablero_formula::{Catalog, CheckedTarget, check_condition};
use tablero_model::{Direction, Kpi, Location, SourceData, Text, Unit, Workspace};
use tokio::sync::Mutex;

use crate::compile::{
    DIM, IDX, LeafInput, V, VALUE, lower, lower_leaf, pass_plan, pass_rows, pass_value,
    shares_a_pass,
};
use crate::error::{EngineError, RequestErrorKind, Result};
use crate::judge;
use crate::load::DataVersion;
use crate::load::register_source;
use crate::plan::{self, KpiPlan, Leaf, Planning};
use crate::rollup::{NoRollup, Origin, Rollup, Spec};
use crate::sql::{self, Statement, TimeStorage};

/// What a user asks `compute` for (SPEC §6).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// KPI ids; empty means every KPI of the workspace.
    pub kpis: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub grain: Option<Grain>,
    pub by: Option<String>,
    pub filter: Option<String>,
    /// Compute as if it were this instant; now when `None`.
    pub as_of: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    OnTrack,
    AtRisk,
    OffTrack,
    NoData,
    NoTarget,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::OnTrack => "on_track",
            Status::AtRisk => "at_risk",
            Status::OffTrack => "off_track",
            Status::NoData => "no_data",
            Status::NoTarget => "no_target",
        }
    }

    /// Judges `value` against `target` and the at-risk `bound` (SPEC §4).
    pub fn judge(
        value: Option<f64>,
        target: Option<f64>,
        bound: Option<f64>,
        direction: Direction,
    ) -> Status {
        let Some(value) = value else {
            return Status::NoData;
        };
        let Some(target) = target else {
            return Status::NoTarget;
        };
        let better_or_equal = |a: f64, b: f64| match direction {
            Direction::Up => a >= b,
            Direction::Down => a <= b,
        };
        if better_or_equal(value, target) {
            Status::OnTrack
        } else if bound.is_some_and(|b| better_or_equal(value, b)) {
            Status::AtRisk
        } else {
            Status::OffTrack
        }
    }
}

/// One KPI's value for one period (and dimension value).
#[derive(Debug, Clone, PartialEq)]
pub struct KpiValue {
    pub period: Period,
    pub label: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The `--by` dimension's value; `None` inside means the null group.
    pub dim: Option<Option<String>>,
    pub value: Option<f64>,
    pub target: Option<f64>,
    pub status: Status,
    pub partial: bool,
    pub forecast: Option<f64>,
    pub pace_target: Option<f64>,
}

/// One KPI over the requested periods.
#[derive(Debug, Clone)]
pub struct KpiResult {
    pub kpi: String,
    pub grain: Grain,
    pub unit: Unit,
    pub decimals: u8,
    /// Which way is better.
    pub direction: Direction,
    pub by: Option<String>,
    pub values: Vec<KpiValue>,
}

/// The plans a KPI compiles to, for `tablero explain`.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub kpi: String,
    /// The engine's own plan: its leaves and the arithmetic over them.
    pub plan: String,
    /// The statements its leaves on database tables send.
    pub pushed: Vec<Pushdown>,
    /// The statements sent to databases when some leaves are pushed down; else the whole
    /// DataFusion plan as SQL, or why it has no SQL form.
    pub sql: std::result::Result<String, String>,
    pub logical_plan: String,
    pub optimized_plan: String,
}

/// Leaf results computed ahead of the KPIs that read them (by a shared pass), by
/// [`leaf_key`].
#[derive(Default)]
struct Computed {
    results: HashMap<String, LogicalPlan>,
}

/// What makes two leaves the same computation: the leaf with its windows and filters, the
/// dimension and the as-of instant.
fn leaf_key(plan: &KpiPlan, leaf: &Leaf) -> String {
    format!("{leaf:?}|{:?}|{}", plan.by, plan.as_of)
}

/// The leaves of `plans` that can share a pass (see [`shares_a_pass`]), grouped by source,
/// time column, windows, dimension and as-of, each leaf once: `(pass key, a plan giving the
/// periods and dimension, its leaves with their [`leaf_key`])`.
type PassGroup<'p> = (String, &'p KpiPlan, Vec<(String, &'p Leaf)>);

fn group_passes(plans: &[KpiPlan]) -> Vec<PassGroup<'_>> {
    let mut passes: Vec<PassGroup<'_>> = Vec::new();
    let mut seen = HashSet::new();
    for plan in plans {
        for leaf in &plan.leaves {
            if !shares_a_pass(leaf) {
                continue;
            }
            let key = leaf_key(plan, leaf);
            if !seen.insert(key.clone()) {
                continue;
            }
            let a = &leaf.aggregate;
            let pass_key = format!(
                "{}|{}|{:?}|{:?}|{}",
                a.source, a.time, leaf.windows, plan.by, plan.as_of
            );
            match passes.iter_mut().find(|p| p.0 == pass_key) {
                Some(pass) => pass.2.push((key, leaf)),
                None => passes.push((pass_key, plan, vec![(key, leaf)])),
            }
        }
    }
    passes
}

/// Leaves computed inside a database by one statement.
#[derive(Debug, Clone)]
pub struct Pushdown {
    /// The leaves' indexes in the plan (`l0`, `l1`, …).
    pub leaves: Vec<usize>,
    pub connection: String,
    pub statement: Statement,
    /// Rows the database returned (`None` for `explain`, which sends nothing).
    pub rows: Option<usize>,
}

/// How much one request may ask of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most periods one request may cover at its grain; checked on period ordinals before
    /// any period is allocated.
    pub max_periods: u64,
    /// Memory DataFusion may hold for all computations at once (hash tables, sorts); a
    /// computation over it fails with [`EngineError::ResourcesExhausted`] instead of growing.
    pub memory_bytes: usize,
}

impl Default for Limits {
    /// Generous limits for the command line, where one person waits for one answer.
    fn default() -> Limits {
        Limits {
            max_periods: 100_000,
            memory_bytes: 8 << 30,
        }
    }
}

/// When store data version `now` holds every file of `then`, a later one: `then`'s version
/// and the files appended since.
fn appended(then: &DataVersion, now: &DataVersion) -> Option<(u64, Vec<String>)> {
    let (
        DataVersion::Store {
            version: from,
            files: had,
        },
        DataVersion::Store {
            version: to,
            files: has,
        },
    ) = (then, now)
    else {
        return None;
    };
    let had: HashSet<&String> = had.iter().collect();
    let present: HashSet<&String> = has.iter().collect();
    let kept_all = had.iter().all(|f| present.contains(f));
    (from < to && kept_all).then(|| {
        let added = has.iter().filter(|f| !had.contains(f)).cloned().collect();
        (*from, added)
    })
}

/// Which rollup: source, time column and, for one of intervals, end column.
type RollupKey = (String, String, Option<String>);

/// A rollup, or why a source has none.
type Built = std::result::Result<Arc<Rollup>, NoRollup>;

/// Whether daily rollups are wanted: unless `TABLERO_ROLLUPS=off`.
fn rollups_wanted() -> bool {
    std::env::var_os("TABLERO_ROLLUPS").is_none_or(|v| v != "off")
}

/// How many parts DataFusion splits a plan's work into, when `TABLERO_PARTITIONS` says (a
/// positive number; one per core otherwise): for measuring, and for checking that results do
/// not depend on it.
fn partitions_wanted() -> Option<usize> {
    let n: usize = std::env::var("TABLERO_PARTITIONS").ok()?.parse().ok()?;
    (n > 0).then_some(n)
}

/// A checked workspace ready to compute, with its sources loaded on first use.
pub struct Engine {
    limits: Limits,
    workspace: Workspace,
    catalog: Catalog,
    calendar: Calendar,
    ctx: SessionContext,
    loaded: Mutex<HashSet<String>>,
    /// Messages about store tables read at an older version because the newest is damaged.
    warnings: std::sync::Mutex<Vec<String>>,
    /// The external databases sources read.
    pools: tablero_connections::Pools,
    /// How each database table stores its times, by connection and table.
    tables: Mutex<HashMap<String, HashMap<String, TimeStorage>>>,
    /// The cluster's session (`engine = "ballista://…"`), connected on first use, and the
    /// sources registered in it.
    cluster: tokio::sync::OnceCell<SessionContext>,
    cluster_loaded: Mutex<HashSet<String>>,
    /// Whether leaves read daily rollups where they can (`TABLERO_ROLLUPS=off` says no).
    use_rollups: bool,
    /// The daily rollups built so far, by source, time column and (for intervals) end
    /// column; `Err` when a source has none (kept, so it is not tried again).
    rollups: Mutex<HashMap<RollupKey, Built>>,
    /// What each loaded source's rows were read from, by source.
    versions: std::sync::Mutex<HashMap<String, DataVersion>>,
}

impl Engine {
    /// An engine over a workspace whose definitions passed the checker, with the default
    /// [`Limits`].
    pub fn new(workspace: Workspace, catalog: Catalog) -> Result<Engine> {
        Engine::with_limits(workspace, catalog, Limits::default())
    }

    /// An engine whose requests are held to `limits`.
    pub fn with_limits(workspace: Workspace, catalog: Catalog, limits: Limits) -> Result<Engine> {
        let settings = &workspace.settings;
        let calendar = Calendar::new(&settings.timezone, settings.fiscal_year_start)
            .map_err(|e| EngineError::Data(format!("tablero.toml: {e}")))?;
        let mut problems = Vec::new();
        for kpi in &workspace.kpis {
            for (label, _) in &kpi.targets {
                if let Err(e) = calendar.parse_any_period(&label.value) {
                    problems.push(tablero_model::Diagnostic::error(
                        Some(label.location.clone()),
                        e.to_string(),
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(EngineError::Definitions(problems));
        }
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(
                datafusion::execution::memory_pool::FairSpillPool::new(limits.memory_bytes),
            ))
            .build_arc()?;
        let mut config = datafusion::prelude::SessionConfig::new();
        if let Some(n) = partitions_wanted() {
            config = config.with_target_partitions(n);
        }
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let pools = tablero_connections::Pools::new(&workspace.settings.connections);
        Ok(Engine {
            limits,
            workspace,
            catalog,
            calendar,
            ctx,
            loaded: Mutex::new(HashSet::new()),
            warnings: std::sync::Mutex::new(Vec::new()),
            pools,
            tables: Mutex::new(HashMap::new()),
            cluster: tokio::sync::OnceCell::new(),
            cluster_loaded: Mutex::new(HashSet::new()),
            use_rollups: rollups_wanted(),
            rollups: Mutex::new(HashMap::new()),
            versions: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Whether leaves read daily rollups where they can ([`crate::rollup`]); on unless
    /// `TABLERO_ROLLUPS=off`.
    pub fn set_rollups(&mut self, on: bool) {
        self.use_rollups = on;
    }

    /// The daily rollup `leaf` would read — of `source` over the leaf's time column, or of its
    /// intervals for an `active` leaf —, made on first use: read from the workspace's cache
    /// folder when it was made from the same data, extended with the files appended to a
    /// store table since, or built from `provider` (the rows as this process loads them) and
    /// kept there — by `scanning`, the session `provider` belongs to (a cluster's: the rows
    /// are summed up where they live). `None` when rollups are off or the source has none.
    async fn rollup(
        &self,
        scanning: &SessionContext,
        source: &str,
        leaf: &Leaf,
        provider: &Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<Rollup>>> {
        let time = leaf.aggregate.time.as_str();
        let until = crate::rollup::until(leaf);
        if !self.use_rollups {
            return Ok(None);
        }
        let Some(definition) = self.workspace.source(source) else {
            return Ok(None);
        };
        let key = (
            source.to_string(),
            time.to_string(),
            until.map(str::to_string),
        );
        let mut rollups = self.rollups.lock().await;
        if let Some(found) = rollups.get(&key) {
            return Ok(found.as_ref().ok().cloned());
        }
        let spec = match until {
            None => Spec::of(&self.catalog, definition, time),
            Some(end) => Spec::intervals(definition, time, end),
        };
        let zone = self
            .calendar
            .time_zone()
            .iana_name()
            .unwrap_or("UTC")
            .to_string();
        let version = self
            .versions
            .lock()
            .ok()
            .and_then(|v| v.get(source).cloned());
        let dir = self
            .workspace
            .root
            .join(".tablero")
            .join("cache")
            .join("rollups");
        let kept = version
            .as_ref()
            .and_then(|_| crate::rollup::read_kept(&dir, &spec, &zone));
        let rows = || -> Result<LogicalPlan> {
            Ok(
                LogicalPlanBuilder::scan(source, provider_as_source(provider.clone()), None)?
                    .build()?,
            )
        };
        let (batches, origin) = match (kept, &version) {
            (Some(kept), Some(now)) if kept.version == *now => (kept.batches, Origin::Kept),
            (Some(kept), Some(now)) if appended(&kept.version, now).is_some() => {
                let (from, added) = appended(&kept.version, now).unwrap_or_default();
                let new_rows = match added.is_empty() {
                    true => Vec::new(),
                    false => {
                        let scan = crate::load::store_files(
                            &self.ctx,
                            &self.workspace.root,
                            definition,
                            &self.calendar,
                            added.clone(),
                        )
                        .await?;
                        crate::rollup::partials(&self.ctx, &self.calendar, &spec, scan).await?
                    }
                };
                let merged = crate::rollup::merge(&self.ctx, &spec, kept.batches, new_rows).await?;
                let files = added.len();
                (merged, Origin::Extended { from, files })
            }
            _ => (
                crate::rollup::partials(scanning, &self.calendar, &spec, rows()?).await?,
                Origin::Built,
            ),
        };
        let built = Rollup::from_batches(&self.calendar, spec, batches, origin)?.map(Arc::new);
        if let (Ok(rollup), Some(version)) = (&built, &version)
            && rollup.origin != Origin::Kept
            && let Err(err) = rollup.keep(&dir, &zone, version)
        {
            // A workspace that cannot be written to still computes; the next process builds again.
            tracing::info!("daily rollup of `{source}` not kept: {err}");
        }
        let found = built.as_ref().ok().cloned();
        rollups.insert(key, built);
        Ok(found)
    }

    /// Problems met loading sources that did not stop the computation (a damaged store table
    /// read at its last intact version), for the caller to show.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// Loads the named sources into the session if they are not there yet.
    async fn providers(&self, names: &[String]) -> Result<HashMap<String, Arc<dyn TableProvider>>> {
        let mut loaded = self.loaded.lock().await;
        let mut providers = HashMap::new();
        for name in names {
            if !loaded.contains(name) {
                let source = self.workspace.source(name).ok_or_else(|| {
                    EngineError::Internal(format!("checked source `{name}` is missing"))
                })?;
                let registered =
                    register_source(&self.ctx, &self.workspace.root, source, &self.calendar)
                        .await?;
                if let Some(version) = registered.version
                    && let Ok(mut versions) = self.versions.lock()
                {
                    versions.insert(name.clone(), version);
                }
                if let Some(warning) = registered.warning
                    && let Ok(mut warnings) = self.warnings.lock()
                {
                    warnings.push(warning);
                }
                loaded.insert(name.clone());
            }
            providers.insert(name.clone(), self.ctx.table_provider(name.as_str()).await?);
        }
        Ok(providers)
    }

    /// The cluster's session when the workspace names one (`engine = "ballista://…"`).
    async fn cluster(&self) -> Result<Option<&SessionContext>> {
        let Some(address) = &self.workspace.settings.cluster else {
            return Ok(None);
        };
        let ctx = self
            .cluster
            .get_or_try_init(|| async {
                use ballista::prelude::{SessionConfigExt, SessionContextExt};
                let state = datafusion::execution::SessionStateBuilder::new()
                    .with_default_features()
                    .with_config(datafusion::prelude::SessionConfig::new_with_ballista())
                    .with_scalar_functions(crate::functions())
                    .build();
                SessionContext::remote_with_state(&format!("df://{address}"), state)
                    .await
                    .map_err(|e| {
                        EngineError::Internal(format!(
                            "cannot reach the cluster's scheduler at {address}: {e}"
                        ))
                    })
            })
            .await?;
        Ok(Some(ctx))
    }

    /// Loads the named sources into the cluster's session if they are not there yet.
    async fn cluster_providers(
        &self,
        ctx: &SessionContext,
        names: &[String],
    ) -> Result<HashMap<String, Arc<dyn TableProvider>>> {
        let mut loaded = self.cluster_loaded.lock().await;
        let mut providers = HashMap::new();
        for name in names {
            if !loaded.contains(name) {
                let source = self.workspace.source(name).ok_or_else(|| {
                    EngineError::Internal(format!("checked source `{name}` is missing"))
                })?;
                let warning = crate::load::register_source_on_cluster(
                    ctx,
                    &self.workspace.root,
                    source,
                    &self.calendar,
                )
                .await?;
                if let Some(warning) = warning
                    && let Ok(mut warnings) = self.warnings.lock()
                {
                    warnings.push(warning);
                }
                loaded.insert(name.clone());
            }
            providers.insert(name.clone(), ctx.table_provider(name.as_str()).await?);
        }
        Ok(providers)
    }

    /// The session that scans files and the store, with those sources registered: the
    /// cluster's when the workspace names one, else this process's.
    async fn scanning(
        &self,
        names: &[String],
    ) -> Result<(&SessionContext, HashMap<String, Arc<dyn TableProvider>>)> {
        match self.cluster().await? {
            Some(ctx) => Ok((ctx, self.cluster_providers(ctx, names).await?)),
            None => Ok((&self.ctx, self.providers(names).await?)),
        }
    }

    /// The KPIs a request names, in workspace order.
    fn selected(&self, request: &Request) -> Result<Vec<&Kpi>> {
        for id in &request.kpis {
            if self.workspace.kpi(id).is_none() {
                let known: Vec<&str> = self
                    .workspace
                    .kpis
                    .iter()
                    .map(|k| k.id.value.as_str())
                    .collect();
                return Err(EngineError::request(
                    RequestErrorKind::UnknownKpi,
                    "kpi",
                    format!("unknown KPI `{id}`, expected one of: {}", known.join(", ")),
                ));
            }
        }
        Ok(self
            .workspace
            .kpis
            .iter()
            .filter(|k| request.kpis.is_empty() || request.kpis.contains(&k.id.value))
            .collect())
    }

    /// The periods a request covers at `grain`, and the as-of instant.
    pub fn periods(&self, request: &Request, grain: Grain) -> Result<(Vec<Period>, Timestamp)> {
        let as_of = request.as_of.unwrap_or_else(Timestamp::now);
        let calendar = &self.calendar;
        // With --grain, labels must be at that grain (SPEC §6). Without it, KPIs keep their own
        // grains, so a label of another grain means the periods that cover it.
        let parse = |label: &str, param: &'static str, last: bool| {
            let strict = calendar.parse_period(grain, label);
            match (strict, request.grain) {
                (Ok(p), _) => Ok(p),
                (Err(e), Some(_)) => {
                    Err(EngineError::bad_parameter(param, format!("{label}: {e}")))
                }
                (Err(e), None) => {
                    let other = calendar
                        .parse_any_period(label)
                        .map_err(|_| EngineError::bad_parameter(param, format!("{label}: {e}")))?;
                    let instant = if last {
                        calendar
                            .end(other)
                            .checked_sub(jiff::SignedDuration::from_micros(1))
                            .unwrap_or(calendar.end(other))
                    } else {
                        calendar.start(other)
                    };
                    Ok(calendar.period_of(grain, instant))
                }
            }
        };
        let to = match &request.to {
            Some(label) => parse(label, "to", true)?,
            None => self.calendar.period_of(grain, as_of),
        };
        let from = match &request.from {
            Some(label) => parse(label, "from", false)?,
            None => self.calendar.shift(to, -11),
        };
        if from > to {
            return Err(EngineError::bad_parameter(
                "from",
                format!(
                    "{} is after the last period asked for, {}",
                    self.calendar.label(from),
                    self.calendar.label(to)
                ),
            ));
        }
        // Compare ordinals before allocating anything: a hostile range must cost nothing.
        let count = to.ordinal.abs_diff(from.ordinal).saturating_add(1);
        if count > self.limits.max_periods {
            return Err(EngineError::request(
                RequestErrorKind::OverLimit,
                "from",
                format!(
                    "{} to {} is {count} periods of a {}; at most {} may be asked for at once",
                    self.calendar.label(from),
                    self.calendar.label(to),
                    grain.as_str(),
                    self.limits.max_periods
                ),
            ));
        }
        let periods = self.calendar.range(from, to);
        Ok((periods, as_of))
    }

    /// Computes the requested KPIs.
    pub async fn compute(&self, request: &Request) -> Result<Vec<KpiResult>> {
        // One clock for the whole request: its KPIs are planned twice (for the shared passes,
        // then each on its own), and leaves are the same computation only at the same instant.
        let request = &Request {
            as_of: Some(request.as_of.unwrap_or_else(Timestamp::now)),
            ..request.clone()
        };
        let kpis = self.selected(request)?;
        // `TABLERO_SHARED_PASSES=off` plans every leaf on its own: for measuring what the
        // passes save, and for running the cases both ways.
        let computed = if std::env::var_os("TABLERO_SHARED_PASSES").is_some_and(|v| v == "off") {
            Computed::default()
        } else {
            self.shared_passes(&kpis, request).await?
        };
        let mut results = Vec::new();
        for kpi in kpis {
            results.push(self.compute_kpi(kpi, request, &computed).await?);
        }
        Ok(results)
    }

    /// One pass per source, time column and windows for all the leaves of the requested
    /// KPIs that can share one (see [`shares_a_pass`]), run before the KPIs are assembled:
    /// a catalog of ten KPIs over one source scans it once, not once per aggregate. KPIs
    /// that do not plan are left to report their error when computed.
    async fn shared_passes(&self, kpis: &[&Kpi], request: &Request) -> Result<Computed> {
        let plans: Vec<KpiPlan> = kpis
            .iter()
            .filter_map(|kpi| self.plan(&kpi.id.value, request).ok())
            .collect();
        let passes = group_passes(&plans);
        let mut sources: Vec<String> = passes
            .iter()
            .filter(|p| self.table_of(p.2[0].1).is_none())
            .map(|p| p.2[0].1.aggregate.source.clone())
            .collect();
        sources.sort();
        sources.dedup();
        let (scanning, providers) = self.scanning(&sources).await?;
        let mut computed = Computed::default();
        for (_, plan, leaves) in passes {
            let only: Vec<&Leaf> = leaves.iter().map(|(_, l)| *l).collect();
            let by = plan.by.is_some();
            let rows = match self.table_of(only[0]) {
                Some((connection, table)) => {
                    let times = self.time_storage(connection, table).await?;
                    let statement = sql::pass_statement(
                        &self.calendar,
                        plan,
                        &only,
                        &tablero_connections::quoted_table(table),
                        &times,
                    )?;
                    self.pools
                        .pass_rows(connection, &statement.sql, &statement.values, only.len())
                        .await
                        .map_err(EngineError::Connection)?
                }
                None => {
                    let remote = !std::ptr::eq(scanning, &self.ctx);
                    self.file_pass(scanning, remote, plan, &only, &providers)
                        .await?
                }
            };
            for (j, ((key, _), leaf_rows)) in leaves.into_iter().zip(rows).enumerate() {
                computed.results.insert(key, leaf_result(j, by, leaf_rows)?);
            }
        }
        Ok(computed)
    }

    fn checked(&self, kpi: &Kpi) -> Result<&tablero_formula::CheckedKpi> {
        self.catalog.get(&kpi.id.value).ok_or_else(|| {
            EngineError::Data(format!(
                "KPI `{}` cannot be computed: its definition has errors",
                kpi.id.value
            ))
        })
    }

    /// `--where` checked against every source a formula reads.
    fn where_filters(
        &self,
        sources: &[String],
        request: &Request,
    ) -> Result<HashMap<String, RowExpr>> {
        let mut filters = HashMap::new();
        let Some(text) = &request.filter else {
            return Ok(filters);
        };
        let text = Text::synthetic(
            text.clone(),
            Location {
                file: "--where".into(),
                line: 1,
                column: 1,
            },
        );
        for name in sources {
            let Some(source) = self.workspace.source(name) else {
                continue;
            };
            let expr = check_condition(&self.workspace, source, &text).map_err(|diagnostics| {
                // A hostile filter may be long and wrong in many places: quote its start and
                // the first few problems, so the answer does not grow with it.
                const SHOWN: usize = 5;
                let mut messages: Vec<String> = diagnostics
                    .iter()
                    .take(SHOWN)
                    .map(|d| format!("{} (in source `{name}`)", d.message))
                    .collect();
                if diagnostics.len() > SHOWN {
                    messages.push(format!("and {} more", diagnostics.len() - SHOWN));
                }
                let quoted: String = if text.value.chars().count() > 80 {
                    text.value.chars().take(77).chain("…".chars()).collect()
                } else {
                    text.value.clone()
                };
                EngineError::bad_parameter("where", format!("{quoted}: {}", messages.join("; ")))
            })?;
            filters.insert(name.clone(), expr);
        }
        Ok(filters)
    }

    /// The dimensions a KPI can be split by (`--by`, the API's `by`): those every source it
    /// reads declares, in the order of its first source. Empty for an unknown KPI.
    pub fn dimensions(&self, kpi_id: &str) -> Vec<String> {
        let sources = self.catalog.sources_of(kpi_id);
        let Some(first) = sources.first().and_then(|s| self.workspace.source(s)) else {
            return Vec::new();
        };
        first
            .dimensions
            .iter()
            .map(|d| d.value.clone())
            .filter(|d| {
                sources.iter().all(|s| {
                    self.workspace
                        .source(s)
                        .is_some_and(|source| source.has_dimension(d))
                })
            })
            .collect()
    }

    fn check_by(&self, kpi_id: &str, sources: &[String], by: &str) -> Result<()> {
        for name in sources {
            let Some(source) = self.workspace.source(name) else {
                continue;
            };
            if !source.has_dimension(by) {
                let dims: Vec<&str> = source.dimensions.iter().map(|d| d.value.as_str()).collect();
                return Err(EngineError::bad_parameter(
                    "by",
                    format!(
                        "{by}: KPI `{kpi_id}` reads source `{name}`, which has no dimension `{by}` (its dimensions: {}; declare it under `dimensions:` in {})",
                        if dims.is_empty() {
                            "none".to_string()
                        } else {
                            dims.join(", ")
                        },
                        source.file.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Runs `formula` over `periods`, giving values by (period index, dimension value).
    async fn evaluate(
        &self,
        formula: &Formula,
        periods: &[Period],
        by: Option<&str>,
        filters: &HashMap<String, RowExpr>,
        as_of: Timestamp,
        computed: &Computed,
    ) -> Result<BTreeMap<(usize, Option<String>), Option<f64>>> {
        let plan = self.kpi_plan(formula, periods, by, filters, as_of)?;
        let (lowered, _) = self.lower(&plan, false, computed).await?;
        let batches = self
            .ctx
            .execute_logical_plan(lowered)
            .await?
            .collect()
            .await?;
        let mut values = BTreeMap::new();
        for batch in batches {
            let idx = typed::<Int64Array>(&column_as(&batch, IDX, &DataType::Int64)?)?;
            let value = typed::<Float64Array>(&column_as(&batch, VALUE, &DataType::Float64)?)?;
            let dim = dims(&batch)?;
            for row in 0..batch.num_rows() {
                let v = (!value.is_null(row))
                    .then(|| value.value(row))
                    .filter(|v| v.is_finite());
                let d = text_at(dim.as_ref(), row);
                values.insert((idx.value(row) as usize, d), v);
            }
        }
        Ok(values)
    }

    /// Plans `formula` over `periods`: no DataFusion, no SQL yet.
    fn kpi_plan(
        &self,
        formula: &Formula,
        periods: &[Period],
        by: Option<&str>,
        filters: &HashMap<String, RowExpr>,
        as_of: Timestamp,
    ) -> Result<KpiPlan> {
        let filter_of = |name: &str| filters.get(name).cloned();
        let planning = Planning {
            calendar: &self.calendar,
            catalog: &self.catalog,
            periods,
            by,
            filters: &filter_of,
            as_of,
        };
        plan::plan(&planning, formula)
    }

    /// The database table a leaf reads, when its source is one.
    fn table_of(&self, leaf: &Leaf) -> Option<(&str, &tablero_model::TableName)> {
        match &self.workspace.source(&leaf.aggregate.source)?.data {
            SourceData::Table { connection, table } => Some((connection.value.as_str(), table)),
            _ => None,
        }
    }

    /// How a database table stores its date and timestamp columns, asked once per engine.
    async fn time_storage(
        &self,
        connection: &str,
        table: &tablero_model::TableName,
    ) -> Result<HashMap<String, TimeStorage>> {
        let key = format!("{connection}\u{0}{table}");
        if let Some(found) = self.tables.lock().await.get(&key) {
            return Ok(found.clone());
        }
        let columns = self
            .pools
            .columns(connection, table)
            .await
            .map_err(EngineError::Connection)?;
        let storage: HashMap<String, TimeStorage> = columns
            .iter()
            .filter_map(|c| TimeStorage::of(&c.ty).map(|s| (c.name.clone(), s)))
            .collect();
        self.tables.lock().await.insert(key, storage.clone());
        Ok(storage)
    }

    /// The statement a leaf on a database table sends.
    async fn statement(&self, plan: &KpiPlan, leaf: &Leaf) -> Result<Option<(String, Statement)>> {
        let Some((connection, table)) = self.table_of(leaf) else {
            return Ok(None);
        };
        let times = self.time_storage(connection, table).await?;
        let statement = sql::leaf_statement(
            &self.calendar,
            plan,
            leaf,
            &tablero_connections::quoted_table(table),
            &times,
        )?;
        Ok(Some((connection.to_string(), statement)))
    }

    /// Lowers a plan for DataFusion: leaves on files and the store onto their scans; leaves
    /// on database tables run there first (unless `dry`, which gives them no rows, for
    /// `explain`), and leaves a shared pass `computed` take its result. Returns the plan and
    /// the statements sent.
    async fn lower(
        &self,
        plan: &KpiPlan,
        dry: bool,
        computed: &Computed,
    ) -> Result<(LogicalPlan, Vec<Pushdown>)> {
        let mut inputs = Vec::new();
        let mut pushed = Vec::new();
        let mut scanned = Vec::new();
        let done = |leaf: &Leaf| computed.results.get(&leaf_key(plan, leaf));
        for leaf in &plan.leaves {
            if self.table_of(leaf).is_none() && done(leaf).is_none() {
                scanned.push(leaf.aggregate.source.clone());
            }
        }
        scanned.sort();
        scanned.dedup();
        // `explain` shows plans as this process would run them; a computation scans where the
        // workspace says.
        let (scanning, providers) = if dry {
            (&self.ctx, self.providers(&scanned).await?)
        } else {
            self.scanning(&scanned).await?
        };
        let remote = !std::ptr::eq(scanning, &self.ctx);
        for (j, leaf) in plan.leaves.iter().enumerate() {
            if let Some(result) = done(leaf) {
                inputs.push(Some(LeafInput::Result(result.clone())));
                continue;
            }
            let input = match self.statement(plan, leaf).await? {
                Some((connection, statement)) => {
                    let rows = if dry {
                        Vec::new()
                    } else {
                        self.pools
                            .leaf_rows(&connection, &statement.sql, &statement.values)
                            .await
                            .map_err(EngineError::Connection)?
                    };
                    pushed.push(Pushdown {
                        leaves: vec![j],
                        connection,
                        statement,
                        rows: (!dry).then_some(rows.len()),
                    });
                    LeafInput::Result(leaf_result(j, plan.by.is_some(), rows)?)
                }
                None => {
                    let name = leaf.aggregate.source.as_str();
                    let provider = providers.get(name).ok_or_else(|| {
                        EngineError::Internal(format!("source `{name}` not loaded"))
                    })?;
                    let scan =
                        LogicalPlanBuilder::scan(name, provider_as_source(provider.clone()), None)?
                            .build()?;
                    // `explain` shows the rows' plan, which gives the same values, and notes
                    // the leaves a rollup serves.
                    let rollup = match dry {
                        true => None,
                        false => self.serving(scanning, plan, &[leaf], provider).await?,
                    };
                    if let Some(rollup) = rollup {
                        let scan = match remote {
                            true => self.rows_here(scanning, &rollup, plan, leaf, scan).await?,
                            false => scan,
                        };
                        LeafInput::Result(rollup.leaf_plan(&self.calendar, plan, leaf, scan)?)
                    } else if remote {
                        // The leaf runs on the cluster; its few rows join the grid here.
                        let leaf_plan = lower_leaf(&self.calendar, plan, leaf, scan)?;
                        let batches = scanning
                            .execute_logical_plan(leaf_plan)
                            .await?
                            .collect()
                            .await?;
                        let rows = leaf_rows(&batches)?;
                        LeafInput::Result(leaf_result(j, plan.by.is_some(), rows)?)
                    } else {
                        LeafInput::Scan(scan)
                    }
                }
            };
            inputs.push(Some(input));
        }
        let mut take = |j: usize, _: &Leaf| {
            inputs
                .get_mut(j)
                .and_then(Option::take)
                .ok_or_else(|| EngineError::Internal(format!("leaf {j} lowered twice")))
        };
        Ok((lower(&self.calendar, plan, &mut take)?, pushed))
    }

    /// The plan of `kpi_id` for a request: its leaves and the arithmetic over them.
    pub fn plan(&self, kpi_id: &str, request: &Request) -> Result<KpiPlan> {
        let request = Request {
            kpis: vec![kpi_id.to_string()],
            ..request.clone()
        };
        let kpi = self.selected(&request)?[0];
        let checked = self.checked(kpi)?;
        let grain = request.grain.unwrap_or(kpi.grain_or_default());
        let (periods, as_of) = self.periods(&request, grain)?;
        let sources = self.catalog.sources_of(&kpi.id.value);
        let filters = self.where_filters(&sources, &request)?;
        if let Some(by) = &request.by {
            self.check_by(&kpi.id.value, &sources, by)?;
        }
        self.kpi_plan(
            &checked.formula,
            &periods,
            request.by.as_deref(),
            &filters,
            as_of,
        )
    }

    /// The plans and SQL `kpi` compiles to for a request.
    pub async fn explain(&self, kpi_id: &str, request: &Request) -> Result<Explanation> {
        let plan = self.plan(kpi_id, request)?;
        // The statements a computation sends: one per shared pass over a database table. Leaves
        // of a pass over a file or the store are shown lowered one by one (the same values, as
        // one SQL query), with a note of the pass they share.
        let plans = [plan];
        let mut computed = Computed::default();
        let mut pushed = Vec::new();
        let mut notes = String::new();
        for (_, plan, leaves) in group_passes(&plans) {
            let indexes: Vec<usize> = leaves
                .iter()
                .filter_map(|(_, leaf)| plan.leaves.iter().position(|l| l == *leaf))
                .collect();
            let named: Vec<String> = indexes.iter().map(|j| format!("l{j}")).collect();
            let only: Vec<&Leaf> = leaves.iter().map(|(_, l)| *l).collect();
            match self.table_of(only[0]) {
                Some((connection, table)) => {
                    let times = self.time_storage(connection, table).await?;
                    let statement = sql::pass_statement(
                        &self.calendar,
                        plan,
                        &only,
                        &tablero_connections::quoted_table(table),
                        &times,
                    )?;
                    for (j, (key, _)) in leaves.iter().enumerate() {
                        computed
                            .results
                            .insert(key.clone(), leaf_result(j, plan.by.is_some(), Vec::new())?);
                    }
                    pushed.push(Pushdown {
                        leaves: indexes,
                        connection: connection.to_string(),
                        statement,
                        rows: None,
                    });
                }
                None => {
                    let source = only[0].aggregate.source.clone();
                    if only.len() > 1 {
                        notes
                            .push_str(&format!("one pass over `{source}`: {}\n", named.join(", ")));
                    }
                    // Which of them a daily rollup answers, as a computation here would.
                    let providers = self.providers(std::slice::from_ref(&source)).await?;
                    let rollup = match providers.get(&source) {
                        Some(p) => self.serving(&self.ctx, plan, &only, p).await?,
                        None => None,
                    };
                    if let Some(rollup) = rollup {
                        notes.push_str(&format!(
                            "{} read {}\n",
                            named.join(", "),
                            rollup.describe()
                        ));
                    }
                }
            }
        }
        // Leaves of their own (`per` groups, snapshots) a daily rollup answers.
        for (j, leaf) in plans[0].leaves.iter().enumerate() {
            if shares_a_pass(leaf) || self.table_of(leaf).is_some() {
                continue;
            }
            let source = &leaf.aggregate.source;
            let providers = self.providers(std::slice::from_ref(source)).await?;
            let rollup = match providers.get(source) {
                Some(p) => self.serving(&self.ctx, &plans[0], &[leaf], p).await?,
                None => None,
            };
            if let Some(rollup) = rollup {
                notes.push_str(&format!("l{j} read {}\n", rollup.describe()));
            }
        }
        let [plan] = plans;
        let (lowered, more) = self.lower(&plan, true, &computed).await?;
        pushed.extend(more);
        let sql = if pushed.is_empty() {
            crate::compile::printable(lowered.clone())
                .and_then(|p| Ok(datafusion::sql::unparser::plan_to_sql(&p)?))
                .map(|s| s.to_string())
                .map_err(|e| e.to_string())
        } else {
            Ok(pushed
                .iter()
                .map(|p| {
                    let named: Vec<String> = p.leaves.iter().map(|j| format!("l{j}")).collect();
                    format!(
                        "-- {} on connection `{}`\n{}",
                        named.join(", "),
                        p.connection,
                        p.statement
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        };
        let optimized = self.ctx.state().optimize(&lowered)?;
        Ok(Explanation {
            kpi: kpi_id.to_string(),
            plan: format!("{plan}{notes}"),
            pushed,
            sql,
            logical_plan: lowered.display_indent().to_string(),
            optimized_plan: optimized.display_indent().to_string(),
        })
    }

    /// A shared pass over a file or the store: from the source's daily rollup when it serves
    /// every leaf (summed up where the rows live, read here), else from the rows (on the
    /// cluster when there is one). Each leaf's rows, in order.
    async fn file_pass(
        &self,
        ctx: &SessionContext,
        remote: bool,
        plan: &KpiPlan,
        leaves: &[&Leaf],
        providers: &HashMap<String, Arc<dyn TableProvider>>,
    ) -> Result<Vec<Vec<tablero_connections::LeafRow>>> {
        let name = leaves[0].aggregate.source.as_str();
        let provider = providers
            .get(name)
            .ok_or_else(|| EngineError::Internal(format!("source `{name}` not loaded")))?;
        let scan =
            LogicalPlanBuilder::scan(name, provider_as_source(provider.clone()), None)?.build()?;
        match self.serving(ctx, plan, leaves, provider).await? {
            Some(rollup) => {
                let scan = match remote {
                    true => self.rows_here(ctx, &rollup, plan, leaves[0], scan).await?,
                    false => scan,
                };
                let pass = rollup.pass_plan(&self.calendar, plan, leaves, scan)?;
                self.pass_results(&self.ctx, pass, leaves.len()).await
            }
            None => {
                let pass = pass_plan(&self.calendar, plan, leaves, scan)?;
                self.pass_results(ctx, pass, leaves.len()).await
            }
        }
    }

    /// The daily rollup that serves every one of `leaves` (one shared pass, or a leaf alone)
    /// of `plan` ([`Rollup::reads`]), made by `scanning` on first use (see
    /// [`Engine::rollup`]); `None` when a leaf is of a kind no rollup serves (nothing is made
    /// for it) or the rollup does not serve them all.
    async fn serving(
        &self,
        scanning: &SessionContext,
        plan: &KpiPlan,
        leaves: &[&Leaf],
        provider: &Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<Rollup>>> {
        let Some(first) = leaves.first() else {
            return Ok(None);
        };
        if !leaves.iter().all(|leaf| crate::rollup::may_serve(leaf)) {
            return Ok(None);
        }
        let source = first.aggregate.source.as_str();
        Ok(self
            .rollup(scanning, source, first, provider)
            .await?
            .filter(|rollup| rollup.reads(&self.calendar, plan, leaves)))
    }

    /// For a rollup read here of a source that lives on a cluster: the rows of the source
    /// its plan for `leaf` reads besides ([`Rollup::rows_read`], as-of's day), fetched from
    /// `cluster` by a filtered scan there, as a scan of them here. `scan` itself when it
    /// reads none.
    async fn rows_here(
        &self,
        cluster: &SessionContext,
        rollup: &Rollup,
        plan: &KpiPlan,
        leaf: &Leaf,
        scan: LogicalPlan,
    ) -> Result<LogicalPlan> {
        let Some(read) = rollup.rows_read(&self.calendar, plan, leaf, scan.schema()) else {
            return Ok(scan);
        };
        let schema = Arc::new(scan.schema().as_arrow().clone());
        let fetch = LogicalPlanBuilder::from(scan).filter(read)?.build()?;
        let batches = cluster.execute_logical_plan(fetch).await?.collect().await?;
        let schema = batches.first().map_or(schema, |b| b.schema());
        let rows = datafusion::datasource::MemTable::try_new(schema, vec![batches])?;
        Ok(LogicalPlanBuilder::scan(
            leaf.aggregate.source.as_str(),
            provider_as_source(Arc::new(rows)),
            None,
        )?
        .build()?)
    }

    /// Each of `n` leaves' rows from a pass's columns (see [`pass_plan`]).
    async fn pass_results(
        &self,
        ctx: &SessionContext,
        pass: LogicalPlan,
        n: usize,
    ) -> Result<Vec<Vec<tablero_connections::LeafRow>>> {
        let batches = ctx.execute_logical_plan(pass).await?.collect().await?;
        let mut rows = vec![Vec::new(); n];
        for batch in &batches {
            let idx = typed::<Int64Array>(&column_as(batch, IDX, &DataType::Int64)?)?;
            let dim = dims(batch)?;
            for (j, leaf_rows) in rows.iter_mut().enumerate() {
                let value =
                    typed::<Float64Array>(&column_as(batch, &pass_value(j), &DataType::Float64)?)?;
                let n = typed::<Int64Array>(&column_as(batch, &pass_rows(j), &DataType::Int64)?)?;
                for row in 0..batch.num_rows() {
                    if n.is_null(row) || n.value(row) == 0 {
                        continue;
                    }
                    leaf_rows.push(tablero_connections::LeafRow {
                        idx: idx.value(row),
                        dim: text_at(dim.as_ref(), row),
                        value: (!value.is_null(row)).then(|| value.value(row)),
                    });
                }
            }
        }
        Ok(rows)
    }

    async fn compute_kpi(
        &self,
        kpi: &Kpi,
        request: &Request,
        computed: &Computed,
    ) -> Result<KpiResult> {
        let checked = self.checked(kpi)?;
        let own = kpi.grain_or_default();
        let grain = request.grain.unwrap_or(own);
        let (periods, as_of) = self.periods(request, grain)?;
        let sources = self.catalog.sources_of(&kpi.id.value);
        let filters = self.where_filters(&sources, request)?;
        let by = request.by.as_deref();
        if let Some(by) = by {
            self.check_by(&kpi.id.value, &sources, by)?;
        }
        let values = self
            .evaluate(&checked.formula, &periods, by, &filters, as_of, computed)
            .await?;
        let formula_targets = match &checked.target {
            Some(CheckedTarget::Formula(f)) => {
                let mut target_sources = Vec::new();
                f.visit(&mut |x| match x {
                    Formula::Aggregate(a) => target_sources.push(a.source.clone()),
                    Formula::Kpi(id) => target_sources.extend(self.catalog.sources_of(id)),
                    _ => {}
                });
                let target_by = by.filter(|d| {
                    target_sources
                        .iter()
                        .all(|s| self.workspace.source(s).is_some_and(|s| s.has_dimension(d)))
                });
                // A filter applies to the target's sources that have its columns; a plan
                // without them (company-wide) stays whole.
                let mut target_filters = HashMap::new();
                for source in &target_sources {
                    if let Ok(mut f) = self.where_filters(std::slice::from_ref(source), request) {
                        target_filters.extend(f.drain());
                    }
                }
                let t = self
                    .evaluate(f, &periods, target_by, &target_filters, as_of, computed)
                    .await?;
                Some((t, target_by.is_some()))
            }
            _ => None,
        };
        let mut out = Vec::new();
        for ((i, dim), value) in values {
            let period = periods[i];
            let start = self.calendar.start(period);
            let end = self.calendar.end(period);
            let future = start > as_of;
            let partial = start <= as_of && as_of < end;
            let value = if future { None } else { value };
            let (target, bound) = match &formula_targets {
                Some((t, by_dim)) => {
                    let key = (i, if *by_dim { dim.clone() } else { None });
                    let target = t.get(&key).copied().flatten();
                    let scale = judge::own_periods_in(&self.calendar, kpi, period, own);
                    (
                        target,
                        target.and_then(|t| judge::threshold_bound(kpi.at_risk, t, scale)),
                    )
                }
                None => judge::constant_target(&self.calendar, kpi, period, own),
            };
            let paced = (partial
                && kpi.unit.is_additive()
                && judge::is_flow(&self.catalog, &checked.formula, 0))
            .then(|| judge::pace(kpi.at_risk, value, target, bound, (start, end), as_of));
            let (judged_target, judged_bound) = match &paced {
                Some(p) => (p.target, p.bound),
                None => (target, bound),
            };
            let pace_target = paced.as_ref().and_then(|p| p.target);
            let forecast = paced.as_ref().and_then(|p| p.forecast);
            let status = Status::judge(value, judged_target, judged_bound, kpi.direction);
            out.push(KpiValue {
                period,
                label: self.calendar.label(period),
                start,
                end,
                dim: by.map(|_| dim),
                value,
                target,
                status,
                partial,
                forecast,
                pace_target,
            });
        }
        Ok(KpiResult {
            kpi: kpi.id.value.clone(),
            grain,
            unit: kpi.unit,
            decimals: kpi.decimals,
            direction: kpi.direction,
            by: request.by.clone(),
            values: out,
        })
    }
}

/// A leaf's rows from a database as a table DataFusion joins onto the grid: `__idx`,
/// `__dim` under `--by`, `__v`.
fn leaf_result(j: usize, by: bool, rows: Vec<tablero_connections::LeafRow>) -> Result<LogicalPlan> {
    use datafusion::arrow::datatypes::{Field, Schema};
    let mut fields = vec![Field::new(IDX, DataType::Int64, false)];
    if by {
        fields.push(Field::new(DIM, DataType::Utf8, true));
    }
    fields.push(Field::new(V, DataType::Float64, true));
    let schema = Arc::new(Schema::new(fields));
    let mut columns: Vec<datafusion::arrow::array::ArrayRef> = vec![Arc::new(Int64Array::from(
        rows.iter().map(|r| r.idx).collect::<Vec<_>>(),
    ))];
    if by {
        columns.push(Arc::new(StringArray::from(
            rows.iter().map(|r| r.dim.clone()).collect::<Vec<_>>(),
        )));
    }
    columns.push(Arc::new(Float64Array::from(
        rows.iter().map(|r| r.value).collect::<Vec<_>>(),
    )));
    let batch = datafusion::arrow::record_batch::RecordBatch::try_new(schema.clone(), columns)?;
    let table = datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]])?;
    Ok(LogicalPlanBuilder::scan(
        format!("pushed_l{j}"),
        provider_as_source(Arc::new(table)),
        None,
    )?
    .build()?)
}

/// A leaf's result rows (`__idx`, `__dim`, `__v`) as computed elsewhere.
fn leaf_rows(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
) -> Result<Vec<tablero_connections::LeafRow>> {
    let mut rows = Vec::new();
    for batch in batches {
        let idx = typed::<Int64Array>(&column_as(batch, IDX, &DataType::Int64)?)?;
        let value = typed::<Float64Array>(&column_as(batch, V, &DataType::Float64)?)?;
        let dim = dims(batch)?;
        for row in 0..batch.num_rows() {
            rows.push(tablero_connections::LeafRow {
                idx: idx.value(row),
                dim: text_at(dim.as_ref(), row),
                value: (!value.is_null(row)).then(|| value.value(row)),
            });
        }
    }
    Ok(rows)
}

/// A result column as its Arrow array type.
fn typed<A: Array + Clone + 'static>(column: &datafusion::arrow::array::ArrayRef) -> Result<A> {
    column
        .as_any()
        .downcast_ref::<A>()
        .cloned()
        .ok_or_else(|| EngineError::Internal(format!("result column is {}", column.data_type())))
}

/// The `__dim` column as text, when the result has one.
fn dims(batch: &datafusion::arrow::record_batch::RecordBatch) -> Result<Option<StringArray>> {
    batch
        .column_by_name(DIM)
        .map(|d| typed::<StringArray>(&cast(d, &DataType::Utf8)?))
        .transpose()
}

/// The text at `row`, or `None` for null.
fn text_at(column: Option<&StringArray>, row: usize) -> Option<String> {
    column.and_then(|d| (!d.is_null(row)).then(|| d.value(row).to_string()))
}

/// A result column cast to the type the caller reads it as.
fn column_as(
    batch: &datafusion::arrow::record_batch::RecordBatch,
    name: &str,
    ty: &DataType,
) -> Result<datafusion::arrow::array::ArrayRef> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| EngineError::Internal(format!("result has no column `{name}`")))?;
    Ok(cast(column, ty)?)
}
