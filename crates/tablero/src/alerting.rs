//! `tablero alerts run` (SPEC §12): evaluates every alert rule once — for cron, or by hand
//! with `--as-of` to see what a past moment would have sent.

use std::path::Path;

use clap::Subcommand;

use crate::{EXIT_INTERNAL, EXIT_USER, Failure};

#[derive(Subcommand, Debug)]
pub enum AlertsAction {
    /// Evaluate every rule once, record what fires and deliver what is due.
    Run {
        /// Evaluate as if it were this moment: a date (end of that day) or an instant.
        #[arg(long = "as-of")]
        as_of: Option<String>,
        /// Say what would fire; record and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

impl From<tablero_alerts::AlertError> for Failure {
    fn from(err: tablero_alerts::AlertError) -> Failure {
        Failure {
            code: if err.is_user_error() {
                EXIT_USER
            } else {
                EXIT_INTERNAL
            },
            message: err.to_string(),
        }
    }
}

pub async fn alerts(root: &Path, action: AlertsAction) -> Result<(), Failure> {
    let AlertsAction::Run { as_of, dry_run } = action;
    let (engine, _) = tablero_engine::open(root)?;
    let as_of = match as_of {
        Some(text) => Some(engine.calendar().parse_as_of(&text).map_err(|e| Failure {
            code: EXIT_USER,
            message: format!("--as-of: {e}"),
        })?),
        None => None,
    };
    if engine.workspace().alerts.is_empty() {
        out!("no alert rules in {}/alerts", root.display());
        return Ok(());
    }
    let db = crate::open_state(root).await?;
    let options = tablero_alerts::RunOptions { as_of, dry_run };
    let report = tablero_alerts::run(&engine, &db, &options).await?;
    for f in &report.fired {
        let note = if dry_run {
            " (dry run)"
        } else if f.new {
            ""
        } else {
            " (recorded before)"
        };
        out!(
            "{} {} {} {} {}{note}: {}",
            f.kind.as_str(),
            f.rule,
            f.kpi,
            f.period,
            f.status,
            f.text.lines().next().unwrap_or_default()
        );
    }
    if !dry_run {
        let new = report.fired.iter().filter(|f| f.new).count();
        out!(
            "{new} new firing(s); {} delivered, {} failed attempt(s), {} waiting for a retry",
            report.delivered,
            report.failed,
            report.still_pending
        );
    }
    db.close().await;
    Ok(())
}
