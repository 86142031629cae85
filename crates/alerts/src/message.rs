//! What a firing says, in the workspace's language and number format: a Slack-compatible
//! webhook body (`text` and `blocks`) and an e-mail (subject, text and HTML), stored with the
//! firing so every later attempt sends the same words.

use tablero_model::display::{format_value, status_label};
use tablero_model::{AlertRule, Kpi, Locale, Notify, Workspace};

use crate::decide::{Decision, Kind};

/// A firing's message.
pub struct Rendered {
    /// The text alone (for `alerts run`'s report).
    pub text: String,
    /// What is stored: `{"webhook": {"text", "blocks"}, "email": {"subject", "text", "html"}}`.
    pub stored: String,
}

/// The (channel, target) pairs a rule notifies: each webhook by its [`webhook_key`] (the URL
/// stays in `alerts/`, since a webhook's path is its secret), each e-mail address.
pub fn targets(rule: &AlertRule) -> Vec<(String, String)> {
    let mut targets = Vec::new();
    for notify in &rule.notify {
        match notify {
            Notify::Webhook(url) => targets.push(("webhook".to_string(), webhook_key(&url.value))),
            Notify::Email(addresses) => {
                for a in addresses {
                    targets.push(("email".to_string(), a.value.clone()));
                }
            }
        }
    }
    targets.sort();
    targets.dedup();
    targets
}

/// What may be shown of a webhook's URL: its scheme and host, never its path or query (a
/// Slack webhook's path is its secret).
pub fn webhook_shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => match (parsed.scheme(), parsed.host_str()) {
            (scheme, Some(host)) => match parsed.port() {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            },
            (scheme, None) => format!("{scheme}:"),
        },
        Err(_) => "(an unparsable URL)".to_string(),
    }
}

/// How a webhook is named where it is stored (the state database) or logged: its scheme and
/// host, and a short hash of the whole URL that finds it again among the rules' webhooks.
pub fn webhook_key(url: &str) -> String {
    let hash = blake3::hash(url.as_bytes()).to_hex();
    format!("{} #{}", webhook_shown(url), &hash[..16])
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `anomaly`: the rule judges a value against its expected band, so a recovery says the value
/// is back within it (the KPI may have been on track all along).
pub fn render(workspace: &Workspace, kpi: &Kpi, decision: &Decision, anomaly: bool) -> Rendered {
    let locale = workspace.settings.locale;
    let currency = &workspace.settings.currency;
    let number = |v: Option<f64>| {
        v.map(|v| format_value(v, kpi.unit, kpi.decimals, locale, currency))
            .unwrap_or_else(|| "—".into())
    };
    let status = status_label(&decision.status, locale);
    let icon = match (decision.kind, decision.status.as_str()) {
        (Kind::Recover, _) | (_, "on_track") => "✅",
        (_, "at_risk") => "🟡",
        (_, "off_track") => "🔴",
        _ => "⚪",
    };
    let (target_word, back, unusual, expected) = match locale {
        Locale::Es => (
            "meta",
            "volvió a estar",
            "valor inusual",
            "volvió a lo esperado",
        ),
        Locale::En => (
            "target",
            "is back",
            "unusual value",
            "is back within the expected range",
        ),
    };
    let headline = match (decision.kind, anomaly) {
        (Kind::Fire, false) => format!("{icon} {}: {status}", kpi.name),
        (Kind::Fire, true) => format!("{icon} {}: {unusual} ({status})", kpi.name),
        (Kind::Recover, false) => format!("{icon} {} {back} {status}", kpi.name),
        (Kind::Recover, true) => format!("✅ {} {expected}", kpi.name),
    };
    let detail = format!(
        "{} · {} ({target_word} {})",
        decision.period,
        number(decision.value),
        number(decision.target)
    );
    let link = workspace
        .settings
        .public_url
        .as_ref()
        .map(|base| format!("{base}/kpi/{}", kpi.id.value));
    let mut text = format!("{headline}\n{detail}");
    if let Some(link) = &link {
        text.push('\n');
        text.push_str(link);
    }
    let mut section = format!("*{headline}*\n{detail}");
    if let Some(link) = &link {
        section.push_str(&format!("\n<{link}|{}>", kpi.name));
    }
    let webhook = serde_json::json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": section}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("Tablero · {}", workspace.settings.name)}]},
        ],
    });
    let mut html = format!(
        "<p><strong>{}</strong></p><p>{}</p>",
        escape_html(&headline),
        escape_html(&detail)
    );
    if let Some(link) = &link {
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>",
            escape_html(link),
            escape_html(&kpi.name)
        ));
    }
    let email = serde_json::json!({
        "subject": format!("{headline} · {}", decision.period),
        "text": text,
        "html": html,
    });
    Rendered {
        stored: serde_json::json!({"webhook": webhook, "email": email}).to_string(),
        text,
    }
}
