//! `tablero reports send ID [--as-of T]` and `tablero reports run [--as-of T]`: scheduled
//! reports by hand, or once for cron (what `serve` does every `alerts_every` minutes).

use std::path::Path;

use clap::Subcommand;

use crate::{EXIT_INTERNAL, EXIT_USER, Failure};

#[derive(Subcommand, Debug)]
pub enum ReportsAction {
    /// Make one report now (or as of a moment) and send it, unless that moment's was sent.
    Send {
        id: String,
        /// The report as of this moment: a date (end of that day) or an instant.
        #[arg(long = "as-of")]
        as_of: Option<String>,
    },
    /// Send every report whose scheduled moment has come (within a day) and not been sent,
    /// and retry failed e-mails that are due.
    Run {
        /// As if it were this moment.
        #[arg(long = "as-of")]
        as_of: Option<String>,
    },
}

impl From<tablero_reports::ReportError> for Failure {
    fn from(err: tablero_reports::ReportError) -> Failure {
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

pub async fn reports(root: &Path, action: ReportsAction) -> Result<(), Failure> {
    let (engine, _) = tablero_engine::open(root)?;
    let parse = |text: Option<String>| -> Result<jiff::Timestamp, Failure> {
        match text {
            Some(t) => engine.calendar().parse_as_of(&t).map_err(|e| Failure {
                code: EXIT_USER,
                message: format!("--as-of: {e}"),
            }),
            None => Ok(jiff::Timestamp::now()),
        }
    };
    let db = crate::open_state(root).await?;
    let mut outcomes = tablero_reports::Outcomes::default();
    match action {
        ReportsAction::Send { id, as_of } => {
            let at = parse(as_of)?;
            let workspace = engine.workspace();
            let Some(report) = workspace.reports.iter().find(|r| r.id.value == id) else {
                let known: Vec<&str> = workspace
                    .reports
                    .iter()
                    .map(|r| r.id.value.as_str())
                    .collect();
                return Err(Failure {
                    code: EXIT_USER,
                    message: format!(
                        "no report `{id}` in reports/ (reports: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                });
            };
            if tablero_reports::record(&engine, &db, report, at).await? {
                outcomes.recorded.push(id.clone());
            } else {
                out!("report `{id}` as of {at} was recorded before: not made again");
            }
            tablero_reports::deliver(&engine, &db, &mut outcomes).await?;
        }
        ReportsAction::Run { as_of } => {
            let at = parse(as_of)?;
            outcomes = tablero_reports::run(&engine, &db, at).await?;
        }
    }
    for id in &outcomes.recorded {
        out!("report `{id}` made");
    }
    out!(
        "{} e-mail(s) sent, {} failed (retried at a later run)",
        outcomes.delivered,
        outcomes.failed
    );
    db.close().await;
    Ok(())
}
