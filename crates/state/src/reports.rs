//! Scheduled reports' sends: recorded once per report, scheduled moment and recipient, with
//! the message as made, then delivered (and retried) like alert deliveries.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, StateDb, now};

/// One e-mail of a report to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSend {
    pub report: String,
    /// The scheduled moment, Unix seconds.
    pub moment: i64,
    pub recipient: String,
    /// The message as JSON (subject, text, html, attachment).
    pub message: String,
    pub state: String,
    pub attempts: i64,
}

impl StateDb {
    /// Whether a report's moment was recorded.
    pub async fn report_recorded(&self, report: &str, moment: i64) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM report_sends WHERE report = $1 AND moment = $2")
                .bind(report)
                .bind(moment)
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    /// Records a report's sends for a moment, one per `(recipient, message)`, unless that
    /// moment was recorded already; whether it was new.
    pub async fn record_report(
        &self,
        report: &str,
        moment: i64,
        sends: &[(String, String)],
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let exists = sqlx::query("SELECT 1 FROM report_sends WHERE report = $1 AND moment = $2")
            .bind(report)
            .bind(moment)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if exists {
            return Ok(false);
        }
        let at = now();
        for (recipient, message) in sends {
            sqlx::query(
                "INSERT INTO report_sends (report, moment, recipient, message, state, attempts, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
            )
            .bind(report)
            .bind(moment)
            .bind(recipient)
            .bind(message)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Pending sends whose next attempt is due at `at`.
    pub async fn due_report_sends(&self, at: i64) -> Result<Vec<ReportSend>> {
        let rows = sqlx::query(
            "SELECT report, moment, recipient, message, state, attempts FROM report_sends \
             WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY created_at, report, recipient",
        )
        .bind(at)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(send).collect()
    }

    /// Every send of a report, oldest first.
    pub async fn report_sends(&self, report: &str) -> Result<Vec<ReportSend>> {
        let rows = sqlx::query(
            "SELECT report, moment, recipient, message, state, attempts FROM report_sends \
             WHERE report = $1 ORDER BY moment, recipient",
        )
        .bind(report)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(send).collect()
    }

    pub async fn report_delivered(&self, send: &ReportSend) -> Result<()> {
        let at = now();
        sqlx::query(
            "UPDATE report_sends SET state = 'delivered', attempts = attempts + 1, delivered_at = $1, last_error = NULL \
             WHERE report = $2 AND moment = $3 AND recipient = $4",
        )
        .bind(at)
        .bind(&send.report)
        .bind(send.moment)
        .bind(&send.recipient)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A failed attempt: retried at `next_attempt_at`, or given up (`failed`) when `give_up`.
    pub async fn report_failed(
        &self,
        send: &ReportSend,
        error: &str,
        next_attempt_at: i64,
        give_up: bool,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE report_sends SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, state = $3 \
             WHERE report = $4 AND moment = $5 AND recipient = $6",
        )
        .bind(error)
        .bind(next_attempt_at)
        .bind(if give_up { "failed" } else { "pending" })
        .bind(&send.report)
        .bind(send.moment)
        .bind(&send.recipient)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

fn send(row: &AnyRow) -> Result<ReportSend> {
    Ok(ReportSend {
        report: row.try_get(0)?,
        moment: row.try_get(1)?,
        recipient: row.try_get(2)?,
        message: row.try_get(3)?,
        state: row.try_get(4)?,
        attempts: row.try_get(5)?,
    })
}
