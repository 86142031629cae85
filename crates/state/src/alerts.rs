//! Alert firings and their deliveries. Recording a firing and its deliveries is one
//! transaction and happens at most once per (rule, KPI, period, dimension value, kind);
//! deliveries are then attempted until they succeed, each attempt noted.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, StateDb, now};

/// A firing to record, with the targets it must reach as (channel, target).
#[derive(Debug, Clone)]
pub struct NewFiring<'a> {
    pub rule: &'a str,
    pub kpi: &'a str,
    pub period: &'a str,
    pub dim: &'a str,
    /// `fire` or `recover`.
    pub kind: &'a str,
    pub status: &'a str,
    /// The rendered message (JSON the delivery layer wrote), kept so a later attempt sends
    /// exactly what was decided.
    pub message: &'a str,
    pub targets: &'a [(String, String)],
}

/// A recorded firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub id: String,
    pub rule: String,
    pub kpi: String,
    pub period: String,
    pub dim: String,
    pub kind: String,
    pub status: String,
    pub created_at: i64,
}

/// A delivery waiting for (another) attempt, with its firing's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub firing_id: String,
    /// The rule that fired.
    pub rule: String,
    pub channel: String,
    pub target: String,
    pub attempts: i64,
    pub message: String,
}

impl StateDb {
    /// Records a firing and a pending delivery per target; false when that firing was
    /// recorded before (nothing changes).
    pub async fn record_firing(&self, firing: &NewFiring<'_>) -> Result<bool> {
        let id = format!(
            "{}/{}/{}/{}/{}",
            firing.rule, firing.kpi, firing.period, firing.dim, firing.kind
        );
        let created_at = now();
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO alert_firings (id, rule, kpi, period, dim, kind, status, message, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(firing.rule)
        .bind(firing.kpi)
        .bind(firing.period)
        .bind(firing.dim)
        .bind(firing.kind)
        .bind(firing.status)
        .bind(firing.message)
        .bind(created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        for (channel, target) in firing.targets {
            sqlx::query(
                "INSERT INTO alert_deliveries (firing_id, channel, target, state, attempts, next_attempt_at) \
                 VALUES ($1, $2, $3, 'pending', 0, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(channel)
            .bind(target)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The newest firing of a rule for a KPI and dimension value (to know whether a recovery
    /// is due).
    pub async fn last_firing(&self, rule: &str, kpi: &str, dim: &str) -> Result<Option<Firing>> {
        let row = sqlx::query(
            "SELECT id, rule, kpi, period, dim, kind, status, created_at FROM alert_firings \
             WHERE rule = $1 AND kpi = $2 AND dim = $3 ORDER BY period DESC, kind ASC LIMIT 1",
        )
        .bind(rule)
        .bind(kpi)
        .bind(dim)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(firing).transpose()
    }

    /// Every firing, oldest first.
    pub async fn firings(&self) -> Result<Vec<Firing>> {
        let rows = sqlx::query(
            "SELECT id, rule, kpi, period, dim, kind, status, created_at FROM alert_firings \
             ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(firing).collect()
    }

    /// Deliveries whose next attempt is due.
    pub async fn due_deliveries(&self) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT d.firing_id, d.channel, d.target, d.attempts, f.message, f.rule \
             FROM alert_deliveries d JOIN alert_firings f ON f.id = d.firing_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
             ORDER BY f.created_at, d.firing_id, d.channel, d.target",
        )
        .bind(now())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    firing_id: r.try_get(0)?,
                    channel: r.try_get(1)?,
                    target: r.try_get(2)?,
                    attempts: r.try_get(3)?,
                    message: r.try_get(4)?,
                    rule: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Notes a successful delivery.
    pub async fn delivered(&self, delivery: &Delivery) -> Result<()> {
        sqlx::query(
            "UPDATE alert_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = $1, last_error = NULL \
             WHERE firing_id = $2 AND channel = $3 AND target = $4",
        )
        .bind(now())
        .bind(&delivery.firing_id)
        .bind(&delivery.channel)
        .bind(&delivery.target)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Notes a failed attempt: tried again at `retry_at` (Unix seconds), or given up when
    /// `retry_at` is `None`.
    pub async fn delivery_failed(
        &self,
        delivery: &Delivery,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, state = $3 \
             WHERE firing_id = $4 AND channel = $5 AND target = $6",
        )
        .bind(error)
        .bind(retry_at.unwrap_or(0))
        .bind(if retry_at.is_some() { "pending" } else { "failed" })
        .bind(&delivery.firing_id)
        .bind(&delivery.channel)
        .bind(&delivery.target)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// How many deliveries are in each state: (pending, delivered, failed).
    pub async fn delivery_counts(&self) -> Result<(i64, i64, i64)> {
        let mut counts = (0, 0, 0);
        for row in sqlx::query("SELECT state, COUNT(*) FROM alert_deliveries GROUP BY state")
            .fetch_all(self.pool())
            .await?
        {
            let state: String = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            match state.as_str() {
                "pending" => counts.0 = n,
                "delivered" => counts.1 = n,
                _ => counts.2 = n,
            }
        }
        Ok(counts)
    }
}

fn firing(row: &AnyRow) -> Result<Firing> {
    Ok(Firing {
        id: row.try_get(0)?,
        rule: row.try_get(1)?,
        kpi: row.try_get(2)?,
        period: row.try_get(3)?,
        dim: row.try_get(4)?,
        kind: row.try_get(5)?,
        status: row.try_get(6)?,
        created_at: row.try_get(7)?,
    })
}
