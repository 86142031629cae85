//! Sending a stored message: a webhook POST (reqwest) or an e-mail through `[smtp]` (lettre).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tablero_model::{Settings, SmtpSecurity};
use tablero_state::Delivery;

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; `after` is the receiver's own `Retry-After`, in seconds.
    Retry {
        error: String,
        after: Option<i64>,
    },
}

/// Sends deliveries with the workspace's settings.
pub struct Sender {
    http: Option<reqwest::Client>,
    smtp: Option<tablero_model::Smtp>,
    /// The webhooks of the workspace's alert rules, by [`crate::message::webhook_key`].
    webhooks: std::collections::HashMap<String, String>,
}

impl Sender {
    pub fn new(settings: &Settings) -> Sender {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| tracing::error!(%err, "cannot build the webhook client"))
            .ok();
        Sender {
            http,
            smtp: settings.smtp.clone(),
            webhooks: Default::default(),
        }
    }

    /// A sender that finds each webhook delivery's URL among `workspace`'s alert rules.
    pub fn for_workspace(workspace: &tablero_model::Workspace) -> Sender {
        let mut sender = Sender::new(&workspace.settings);
        for rule in &workspace.alerts {
            for notify in &rule.notify {
                if let tablero_model::Notify::Webhook(url) = notify {
                    let url = url.value.clone();
                    sender
                        .webhooks
                        .insert(crate::message::webhook_key(&url), url);
                }
            }
        }
        sender
    }

    /// The URL a stored webhook target stands for: found by its key among the rules' webhooks
    /// (a rule whose URL changed since no longer has it), or a whole URL stored by an earlier
    /// release.
    fn webhook_url<'a>(&'a self, target: &'a str) -> Option<&'a str> {
        match self.webhooks.get(target) {
            Some(url) => Some(url),
            None if !target.contains(" #") && reqwest::Url::parse(target).is_ok() => Some(target),
            None => None,
        }
    }

    pub async fn send(&self, delivery: &Delivery) -> Outcome {
        let message: serde_json::Value = match serde_json::from_str(&delivery.message) {
            Ok(m) => m,
            Err(e) => return retry(format!("the stored message is unreadable: {e}")),
        };
        match delivery.channel.as_str() {
            "webhook" => self.webhook(delivery, &message["webhook"]).await,
            "email" => self.email(delivery, &message["email"]).await,
            other => retry(format!("unknown channel `{other}`")),
        }
    }

    async fn webhook(&self, delivery: &Delivery, body: &serde_json::Value) -> Outcome {
        let Some(http) = &self.http else {
            return retry("no HTTP client".into());
        };
        let Some(url) = self.webhook_url(&delivery.target) else {
            return retry(
                "no alert rule has this webhook any more (its URL changed or the rule is gone)"
                    .into(),
            );
        };
        // Every message names the webhook by its scheme and host alone: its path is a secret.
        let shown = crate::message::webhook_shown(url);
        let sent = http
            .post(url)
            .header("content-type", "application/json")
            .header("idempotency-key", &delivery.firing_id)
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Outcome::Delivered,
            Ok(response) => {
                let after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .map(|s| s.clamp(0, 86_400));
                Outcome::Retry {
                    error: format!("the webhook at {shown} answered {}", response.status()),
                    after,
                }
            }
            Err(err) => retry(format!(
                "the webhook at {shown} cannot be reached: {}",
                err.without_url()
            )),
        }
    }

    async fn email(&self, delivery: &Delivery, mail: &serde_json::Value) -> Outcome {
        self.email_to(&delivery.target, mail).await
    }

    /// Sends one e-mail to `to` through `[smtp]`: `{"subject", "text", "html"}`, and an optional
    /// `"attachment": {"name", "content_type", "base64"}` (a scheduled report's PDF).
    pub async fn email_to(&self, to: &str, mail: &serde_json::Value) -> Outcome {
        let Some(smtp) = &self.smtp else {
            return retry("tablero.toml has no [smtp]".into());
        };
        let text = |key: &str| mail[key].as_str().unwrap_or_default().to_string();
        let (Ok(from), Ok(mailbox)) = (smtp.from.parse::<Mailbox>(), to.parse::<Mailbox>()) else {
            return retry(format!("`{}` or `{to}` is not a mailbox", smtp.from));
        };
        let body = MultiPart::alternative_plain_html(text("text"), text("html"));
        let attachment = &mail["attachment"];
        let body = if attachment.is_object() {
            use base64::Engine;
            let bytes = match base64::engine::general_purpose::STANDARD
                .decode(attachment["base64"].as_str().unwrap_or_default())
            {
                Ok(b) => b,
                Err(e) => return retry(format!("the stored attachment is unreadable: {e}")),
            };
            let Ok(kind) =
                ContentType::parse(attachment["content_type"].as_str().unwrap_or_default())
            else {
                return retry("the stored attachment has no content type".into());
            };
            let name = attachment["name"]
                .as_str()
                .unwrap_or("attachment")
                .to_string();
            MultiPart::mixed()
                .multipart(body)
                .singlepart(Attachment::new(name).body(bytes, kind))
        } else {
            body
        };
        let message = Message::builder()
            .from(from)
            .to(mailbox)
            .subject(text("subject"))
            .multipart(body);
        let message = match message {
            Ok(m) => m,
            Err(e) => return retry(format!("cannot build the e-mail: {e}")),
        };
        let builder = match smtp.security {
            SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                &smtp.host,
            )),
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
        };
        let mut builder = match builder {
            Ok(b) => b.port(smtp.port).timeout(Some(Duration::from_secs(20))),
            Err(e) => return retry(format!("SMTP {}: {e}", smtp.host)),
        };
        if let Some(user) = &smtp.username {
            let password = std::env::var("TABLERO_SMTP_PASSWORD").unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        match builder.build().send(message).await {
            Ok(_) => Outcome::Delivered,
            Err(e) => retry(format!("SMTP {}:{}: {e}", smtp.host, smtp.port)),
        }
    }
}

fn retry(error: String) -> Outcome {
    Outcome::Retry { error, after: None }
}
