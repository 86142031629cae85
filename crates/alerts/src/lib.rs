//! Alerts (SPEC §12): each rule of `alerts/*.yaml` is evaluated over the KPIs it watches,
//! what fires is recorded once in the state database, and every notification target gets
//! the message until it is delivered.
//!
//! One evaluation ([`run`]) does three things in order:
//! 1. **decide** ([`decide`], plain functions over computed values): for each watched KPI,
//!    its latest complete period against the period before — a status rule fires when the
//!    status changed into one of its `to` statuses, a value rule when its condition holds; a
//!    KPI back `on_track` after a firing gets one recovery;
//! 2. **record**: each firing with a pending delivery per target, in one transaction,
//!    identified by rule, KPI, period, dimension value and kind, so a firing is recorded at
//!    most once however often rules are evaluated;
//! 3. **deliver** every due delivery (this run's and earlier failures'), noting each
//!    attempt: a failure is retried at later evaluations with a growing wait (a 429's
//!    `Retry-After` honoured), given up after [`MAX_ATTEMPTS`].
//!
//! A process stopped between 2 and 3 loses nothing: the next evaluation delivers what is
//! pending. A process stopped after a receiver accepted a message but before the delivery was
//! noted would send it again; webhooks carry the firing's id in `Idempotency-Key` so a
//! receiver can tell.

mod decide;
pub mod deliver;
mod message;

use tablero_engine::{Engine, Request};
use tablero_model::{AlertRule, AlertSelect, Workspace};
use tablero_state::{NewFiring, StateDb};

pub use decide::{Decision, Kind, decide};
pub use deliver::Outcome;

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 20;

/// What went wrong evaluating or recording (delivery failures are outcomes, not errors).
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Engine(#[from] tablero_engine::EngineError),
    #[error(transparent)]
    State(#[from] tablero_state::StateError),
}

impl AlertError {
    pub fn is_user_error(&self) -> bool {
        match self {
            AlertError::Engine(e) => e.is_user_error(),
            AlertError::State(e) => e.is_user_error(),
        }
    }
}

/// How to evaluate.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Evaluate as if it were this moment (reproducible runs, tests).
    pub as_of: Option<jiff::Timestamp>,
    /// Say what would fire; record and send nothing.
    pub dry_run: bool,
}

/// One firing decided by an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: String,
    pub kpi: String,
    pub period: String,
    pub kind: Kind,
    pub status: String,
    /// False when it had been recorded by an earlier evaluation.
    pub new: bool,
    /// The message's text.
    pub text: String,
}

/// What an evaluation did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub fired: Vec<Fired>,
    pub delivered: usize,
    pub failed: usize,
    pub still_pending: usize,
}

/// The KPIs a rule watches, in catalog order.
pub fn watched<'w>(workspace: &'w Workspace, rule: &AlertRule) -> Vec<&'w tablero_model::Kpi> {
    workspace
        .kpis
        .iter()
        .filter(|k| match &rule.select {
            AlertSelect::Kpis(ids) => ids.iter().any(|id| id.value == k.id.value),
            AlertSelect::Owner(owner) => k.owner.as_ref().is_some_and(|o| o.value == owner.value),
            AlertSelect::Tags(tags) => tags.iter().any(|t| k.tags.contains(&t.value)),
        })
        .collect()
}

/// Evaluates every rule once, records what fires, and delivers what is due.
pub async fn run(
    engine: &Engine,
    db: &StateDb,
    options: &RunOptions,
) -> Result<Report, AlertError> {
    #[cfg(feature = "failpoints")]
    configure_failpoints();
    let workspace = engine.workspace();
    let mut report = Report::default();
    for rule in &workspace.alerts {
        let kpis: Vec<String> = watched(workspace, rule)
            .iter()
            .map(|k| k.id.value.clone())
            .collect();
        if kpis.is_empty() {
            continue;
        }
        let anomaly = matches!(rule.when, tablero_model::AlertWhen::Anomaly);
        let results = if anomaly {
            // The model needs the KPI's history: each KPI over enough of its own periods.
            let mut results = Vec::new();
            for id in kpis {
                let Some(kpi) = workspace.kpi(&id) else {
                    continue;
                };
                let grain = kpi.grain_or_default();
                let season = tablero_forecast::season_length(grain.as_str());
                let calendar = engine.calendar();
                let now = options.as_of.unwrap_or_else(jiff::Timestamp::now);
                let back = tablero_forecast::min_band_history(season) as i64 + 12;
                let from = calendar.label(calendar.shift(calendar.period_of(grain, now), -back));
                results.extend(
                    engine
                        .compute(&Request {
                            kpis: vec![id],
                            from: Some(from),
                            as_of: options.as_of,
                            ..Request::default()
                        })
                        .await?,
                );
            }
            results
        } else {
            engine
                .compute(&Request {
                    kpis,
                    as_of: options.as_of,
                    ..Request::default()
                })
                .await?
        };
        for result in &results {
            let Some(kpi) = workspace.kpi(&result.kpi) else {
                continue;
            };
            let season = tablero_forecast::season_length(result.grain.as_str());
            let last = db.last_firing(&rule.id.value, &kpi.id.value, "").await?;
            let Some(decision) = decide(rule, &result.values, season, last.as_ref()) else {
                continue;
            };
            let rendered = message::render(workspace, kpi, &decision, anomaly);
            let targets = visible_targets(db, kpi, message::targets(rule)).await?;
            let new = if options.dry_run {
                false
            } else {
                db.record_firing(&NewFiring {
                    rule: &rule.id.value,
                    kpi: &kpi.id.value,
                    period: &decision.period,
                    dim: "",
                    kind: decision.kind.as_str(),
                    status: &decision.status,
                    message: &rendered.stored,
                    targets: &targets,
                })
                .await?
            };
            report.fired.push(Fired {
                rule: rule.id.value.clone(),
                kpi: kpi.id.value.clone(),
                period: decision.period.clone(),
                kind: decision.kind,
                status: decision.status.clone(),
                new,
                text: rendered.text,
            });
        }
    }
    if options.dry_run {
        return Ok(report);
    }
    // A stop here (a crash, a kill) leaves the firings recorded and their deliveries pending.
    fail::fail_point!("alerts-after-record");
    let sender = deliver::Sender::for_workspace(workspace);
    for delivery in db.due_deliveries().await? {
        match sender.send(&delivery).await {
            Outcome::Delivered => {
                db.delivered(&delivery).await?;
                report.delivered += 1;
            }
            Outcome::Retry { error, after } => {
                let attempts = delivery.attempts + 1;
                let retry_at = (attempts < MAX_ATTEMPTS)
                    .then(|| tablero_state::now() + after.unwrap_or_else(|| backoff(attempts)));
                tracing::warn!(rule = %delivery.rule, firing = %delivery.firing_id, channel = %delivery.channel, to = %delivery.target, %error, attempts, "alert delivery failed");
                db.delivery_failed(&delivery, &error, retry_at).await?;
                report.failed += 1;
            }
        }
    }
    report.still_pending = db.delivery_counts().await?.0 as usize;
    Ok(report)
}

/// Arms this crate's fault points (`alerts-…`) named in `FAILPOINTS`, once per process.
#[cfg(feature = "failpoints")]
fn configure_failpoints() {
    static CONFIGURED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    CONFIGURED.get_or_init(|| {
        let points = std::env::var("FAILPOINTS").unwrap_or_default();
        for (name, actions) in points.split(';').filter_map(|p| p.split_once('=')) {
            if name.trim().starts_with("alerts-")
                && let Err(err) = fail::cfg(name.trim(), actions.trim())
            {
                eprintln!("tablero: FAILPOINTS: cannot use `{name}`: {err}");
            }
        }
    });
}

/// The targets that may be told about `kpi`: once accounts exist, an e-mail goes only to an
/// enabled account that sees the KPI (an alert never reveals a KPI to someone who could not
/// open it); webhooks go where their rule says.
async fn visible_targets(
    db: &StateDb,
    kpi: &tablero_model::Kpi,
    targets: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, AlertError> {
    if !db.has_active_accounts().await? {
        return Ok(targets);
    }
    let owner = kpi.owner.as_ref().map(|o| o.value.as_str());
    let mut kept = Vec::new();
    for (channel, target) in targets {
        if channel == "email" {
            let email = target.trim().to_lowercase();
            let sees = match db.account(&email).await? {
                Some(account) if !account.is_disabled() => {
                    tablero_access::Visitor::Signed(tablero_access::Principal::new(&account))
                        .sees_owner(owner)
                }
                _ => false,
            };
            if !sees {
                tracing::info!(%email, kpi = %kpi.id.value, "not told: the address is no account that sees this KPI");
                continue;
            }
        }
        kept.push((channel, target));
    }
    Ok(kept)
}

/// Seconds to wait after the `attempts`-th failure: at the next evaluation after the first,
/// then 1, 2, 4… minutes, at most 6 hours.
pub fn backoff(attempts: i64) -> i64 {
    if attempts <= 1 {
        return 0;
    }
    (60_i64 << (attempts - 2).min(9)).min(6 * 3600)
}

#[cfg(test)]
mod tests;
