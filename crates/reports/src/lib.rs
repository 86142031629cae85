//! Scheduled reports (`reports/*.yaml`): a dashboard's scorecard e-mailed on a schedule in the
//! workspace's time zone — the table in the e-mail's HTML and text, and as a PDF attachment.
//! Each scheduled moment is recorded once per recipient in the state database with the message
//! as made, then delivered and retried like alerts, so a restart neither repeats nor loses one.
//! Each address gets the dashboard as the account with that e-mail sees it (SPEC §13): only
//! its KPIs, nothing when it sees none, and nothing for an address that is no active account
//! once the state database has held accounts.

pub mod pdf;
pub mod schedule;

use base64::Engine as _;
use jiff::Timestamp;
use tablero_access::{Principal, Visitor};
use tablero_alerts::deliver::{Outcome, Sender};
use tablero_engine::{Engine, Request};
use tablero_model::display::{format_value, status_label};
use tablero_model::{Locale, Report};
use tablero_state::StateDb;

/// What can go wrong making or sending a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no report `{0}` in reports/")]
    Unknown(String),
    #[error("report `{report}`: no dashboard `{dashboard}`")]
    NoDashboard { report: String, dashboard: String },
    #[error(transparent)]
    Engine(#[from] tablero_engine::EngineError),
    #[error(transparent)]
    State(#[from] tablero_state::StateError),
}

impl ReportError {
    /// The workspace or the request is at fault (not the machine).
    pub fn is_user_error(&self) -> bool {
        match self {
            ReportError::Unknown(_) | ReportError::NoDashboard { .. } => true,
            ReportError::Engine(e) => e.is_user_error(),
            ReportError::State(e) => e.is_user_error(),
        }
    }
}

/// Hours after its moment a missed report is still sent (the server was down at 09:00 and
/// starts at 11:00); an older one is skipped, not sent days late.
pub const GRACE_SECONDS: i64 = 24 * 3600;

/// One row of the report's table, formatted.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub kpi: String,
    pub name: String,
    pub owner: String,
    pub period: String,
    pub value: String,
    pub target: String,
    pub status: String,
    pub change: String,
}

/// The report as made at a moment: its title, when, and the scorecard's lines.
#[derive(Debug, Clone)]
pub struct Made {
    pub title: String,
    pub when: String,
    pub lines: Vec<Line>,
    pub locale: Locale,
}

/// Computes the scorecard of `report`'s dashboard as `reader` sees it, as of `at`: each KPI's
/// latest complete period with a value, its target, status and change from the period before.
pub async fn make(
    engine: &Engine,
    report: &Report,
    reader: &Visitor,
    at: Timestamp,
) -> Result<Made, ReportError> {
    let workspace = engine.workspace();
    let dashboard = workspace
        .dashboard(&report.dashboard.value)
        .ok_or_else(|| ReportError::NoDashboard {
            report: report.id.value.clone(),
            dashboard: report.dashboard.value.clone(),
        })?;
    let locale = report.locale.unwrap_or(workspace.settings.locale);
    let currency = workspace.settings.currency.as_str();
    let ids: Vec<String> = dashboard
        .kpis
        .iter()
        .filter(|k| {
            workspace
                .kpi(&k.value)
                .is_some_and(|kpi| reader.sees_owner(kpi.owner.as_ref().map(|o| o.value.as_str())))
        })
        .map(|k| k.value.clone())
        .collect();
    let results = engine
        .compute(&Request {
            kpis: ids.clone(),
            grain: dashboard.grain,
            as_of: Some(at),
            ..Request::default()
        })
        .await?;
    let mut lines = Vec::new();
    for id in &ids {
        let (Some(kpi), Some(result)) = (workspace.kpi(id), results.iter().find(|r| &r.kpi == id))
        else {
            continue;
        };
        let judged = result.judged();
        let show = |v: Option<f64>| {
            v.map(|v| format_value(v, kpi.unit, kpi.decimals, locale, currency))
                .unwrap_or_else(|| "—".into())
        };
        let change = match judged.change.map(|c| c.delta) {
            Some(d) if d > 0.0 => format!("+{}", show(Some(d))),
            Some(d) => show(Some(d)),
            None => "—".into(),
        };
        lines.push(Line {
            kpi: id.clone(),
            name: kpi.name.clone(),
            owner: kpi
                .owner
                .as_ref()
                .map(|o| o.value.clone())
                .unwrap_or_default(),
            period: judged.label().to_string(),
            value: show(judged.value()),
            target: show(judged.target()),
            status: status_label(judged.status().as_str(), locale).to_string(),
            change,
        });
    }
    let when = at
        .to_zoned(engine.calendar().time_zone().clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string();
    Ok(Made {
        title: format!("{} — {}", workspace.settings.name, dashboard.title),
        when,
        lines,
        locale,
    })
}

fn headers(locale: Locale) -> [&'static str; 7] {
    match locale {
        Locale::Es => [
            "KPI",
            "Responsable",
            "Periodo",
            "Valor",
            "Meta",
            "Estado",
            "Cambio",
        ],
        Locale::En => [
            "KPI", "Owner", "Period", "Value", "Target", "Status", "Change",
        ],
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The e-mail: subject, text, HTML and the PDF, as the JSON the sender stores and sends.
pub fn message(made: &Made, public_url: Option<&str>, dashboard: &str) -> serde_json::Value {
    let heads = headers(made.locale);
    let cells = |l: &Line| {
        vec![
            l.name.clone(),
            l.owner.clone(),
            l.period.clone(),
            l.value.clone(),
            l.target.clone(),
            l.status.clone(),
            l.change.clone(),
        ]
    };
    let rows: Vec<Vec<String>> = made.lines.iter().map(cells).collect();
    let (prepared, link_text) = match made.locale {
        Locale::Es => ("Preparado el", "Ver el tablero"),
        Locale::En => ("Prepared on", "Open the dashboard"),
    };
    let link = public_url.map(|u| format!("{}/dashboards/{dashboard}", u.trim_end_matches('/')));
    let mut text = format!("{}\n{prepared} {}\n\n", made.title, made.when);
    for row in &rows {
        text.push_str(&format!(
            "{} ({}) {}: {} / {} · {} · {}\n",
            row[0], row[1], row[2], row[3], row[4], row[5], row[6]
        ));
    }
    if let Some(link) = &link {
        text.push_str(&format!("\n{link_text}: {link}\n"));
    }
    let mut html = format!(
        "<h1 style=\"font-family:sans-serif;font-size:18px\">{}</h1><p style=\"font-family:sans-serif;color:#555\">{prepared} {}</p>\
         <table style=\"border-collapse:collapse;font-family:sans-serif;font-size:13px\"><thead><tr>",
        escape(&made.title),
        escape(&made.when)
    );
    for h in heads {
        html.push_str(&format!(
            "<th style=\"text-align:left;border-bottom:1px solid #999;padding:4px 8px\">{h}</th>"
        ));
    }
    html.push_str("</tr></thead><tbody>");
    for row in &rows {
        html.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let align = if (3..=4).contains(&i) || i == 6 {
                "right"
            } else {
                "left"
            };
            html.push_str(&format!(
                "<td style=\"text-align:{align};padding:4px 8px;border-bottom:1px solid #eee\">{}</td>",
                escape(cell)
            ));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    if let Some(link) = &link {
        html.push_str(&format!(
            "<p style=\"font-family:sans-serif\"><a href=\"{}\">{link_text}</a></p>",
            escape(link)
        ));
    }
    let pdf = pdf::render(&pdf::Sheet {
        title: &made.title,
        subtitle: &format!("{prepared} {}", made.when),
        headers: &heads,
        columns: &[36.0, 270.0, 390.0, 440.0, 540.0, 640.0, 720.0],
        numeric: &[false, false, false, true, true, false, true],
        rows: &rows,
    });
    serde_json::json!({
        "email": {
            "subject": format!("{} · {}", made.title, made.when),
            "text": text,
            "html": html,
            "attachment": {
                "name": format!("{dashboard}.pdf"),
                "content_type": "application/pdf",
                "base64": base64::engine::general_purpose::STANDARD.encode(pdf),
            }
        }
    })
}

/// What one evaluation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcomes {
    /// Reports recorded for a moment not seen before.
    pub recorded: Vec<String>,
    pub delivered: usize,
    pub failed: usize,
}

/// Each address of `report` with the visitor it is read as: everyone while the state
/// database never held an account; once it has, the active account with that e-mail, and an
/// address that is none is left out.
async fn readers(db: &StateDb, report: &Report) -> Result<Vec<(String, Visitor)>, ReportError> {
    let mut readers = Vec::new();
    let accounts = db.has_accounts().await?;
    for address in &report.to {
        let address = address.value.clone();
        if !accounts {
            readers.push((address, Visitor::Everyone));
            continue;
        }
        let email = tablero_access::normalize_email(&address).unwrap_or_else(|_| address.clone());
        match db.account(&email).await? {
            Some(account) if !account.is_disabled() => {
                readers.push((address, Visitor::Signed(Principal::new(&account))))
            }
            _ => tracing::warn!(report = %report.id.value, recipient = %address,
                "no active account has this address: the report is not sent to it"),
        }
    }
    Ok(readers)
}

/// Records `report` for `moment` (made as of that moment, for each recipient as it sees the
/// dashboard) unless it was recorded already; whether it was new. A recorded moment is not
/// made again (no computation, no PDF), so the serve loop's checks within the grace period cost
/// one query. Recipients who see the same KPIs share one making.
pub async fn record(
    engine: &Engine,
    db: &StateDb,
    report: &Report,
    moment: Timestamp,
) -> Result<bool, ReportError> {
    if db
        .report_recorded(&report.id.value, moment.as_second())
        .await?
    {
        return Ok(false);
    }
    let settings = &engine.workspace().settings;
    // (the KPIs a reader sees, the message made for them)
    let mut made: Vec<(Vec<String>, String)> = Vec::new();
    let mut sends = Vec::new();
    for (address, reader) in readers(db, report).await? {
        let scorecard = make(engine, report, &reader, moment).await?;
        if scorecard.lines.is_empty() {
            continue;
        }
        let seen: Vec<String> = scorecard.lines.iter().map(|l| l.kpi.clone()).collect();
        let text = match made.iter().find(|(kpis, _)| *kpis == seen) {
            Some((_, text)) => text.clone(),
            None => {
                let text = message(
                    &scorecard,
                    settings.public_url.as_deref(),
                    &report.dashboard.value,
                )
                .to_string();
                made.push((seen, text.clone()));
                text
            }
        };
        sends.push((address, text));
    }
    Ok(db
        .record_report(&report.id.value, moment.as_second(), &sends)
        .await?)
}

/// One evaluation at `now`: each report whose latest scheduled moment is within
/// [`GRACE_SECONDS`] and not yet recorded is made and recorded; then every due send is sent.
pub async fn run(engine: &Engine, db: &StateDb, now: Timestamp) -> Result<Outcomes, ReportError> {
    let workspace = engine.workspace();
    let tz = engine.calendar().time_zone().clone();
    let mut outcomes = Outcomes::default();
    for report in &workspace.reports {
        let Some(moment) = schedule::latest(&report.schedule, &tz, now) else {
            continue;
        };
        if now.as_second() - moment.as_second() > GRACE_SECONDS {
            continue;
        }
        if record(engine, db, report, moment).await? {
            outcomes.recorded.push(report.id.value.clone());
        }
    }
    deliver(engine, db, &mut outcomes).await?;
    Ok(outcomes)
}

/// Sends every due send, retrying failures later with the alerts' backoff.
pub async fn deliver(
    engine: &Engine,
    db: &StateDb,
    outcomes: &mut Outcomes,
) -> Result<(), ReportError> {
    let sender = Sender::new(&engine.workspace().settings);
    for send in db.due_report_sends(tablero_state::now()).await? {
        let message: serde_json::Value =
            serde_json::from_str(&send.message).unwrap_or(serde_json::Value::Null);
        match sender.email_to(&send.recipient, &message["email"]).await {
            Outcome::Delivered => {
                db.report_delivered(&send).await?;
                outcomes.delivered += 1;
            }
            Outcome::Retry { error, after } => {
                let attempts = send.attempts + 1;
                let give_up = attempts >= tablero_alerts::MAX_ATTEMPTS;
                let next = tablero_state::now()
                    + after.unwrap_or_else(|| tablero_alerts::backoff(attempts));
                tracing::warn!(report = %send.report, recipient = %send.recipient, %error, attempts, "report e-mail failed");
                db.report_failed(&send, &error, next, give_up).await?;
                outcomes.failed += 1;
            }
        }
    }
    Ok(())
}
