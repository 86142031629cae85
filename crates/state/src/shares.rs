//! Share links: one dashboard, read-only, for whoever holds the link until it expires or is
//! revoked. The secret itself never reaches this crate, only its hash.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, StateDb, now};

/// A share link as stored (no secret, no hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub id: String,
    pub dashboard: String,
    /// `board` (the scorecard) or `tv` (the wall-screen page).
    pub view: String,
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A share link to store.
#[derive(Debug)]
pub struct NewShare<'a> {
    pub id: &'a str,
    pub secret_hash: &'a str,
    pub dashboard: &'a str,
    pub view: &'a str,
    pub created_by: &'a str,
    pub expires_at: i64,
}

impl StateDb {
    pub async fn insert_share(&self, new: &NewShare<'_>) -> Result<Share> {
        let created_at = now();
        sqlx::query(
            "INSERT INTO shares (id, secret_hash, dashboard, view, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.id)
        .bind(new.secret_hash)
        .bind(new.dashboard)
        .bind(new.view)
        .bind(new.created_by)
        .bind(created_at)
        .bind(new.expires_at)
        .execute(self.pool())
        .await?;
        Ok(Share {
            id: new.id.to_string(),
            dashboard: new.dashboard.to_string(),
            view: new.view.to_string(),
            created_by: new.created_by.to_string(),
            created_at,
            expires_at: new.expires_at,
            revoked_at: None,
        })
    }

    /// Every share link, or those one account created, newest first.
    pub async fn shares(&self, created_by: Option<&str>) -> Result<Vec<Share>> {
        let rows = match created_by {
            Some(email) => sqlx::query(
                "SELECT id, dashboard, view, created_by, created_at, expires_at, revoked_at FROM shares WHERE created_by = $1 ORDER BY created_at DESC, id",
            )
            .bind(email)
            .fetch_all(self.pool())
            .await?,
            None => {
                sqlx::query(
                    "SELECT id, dashboard, view, created_by, created_at, expires_at, revoked_at FROM shares ORDER BY created_at DESC, id",
                )
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(share).collect()
    }

    /// The share link with this secret hash, if it is neither revoked nor expired at `at`
    /// (Unix seconds).
    pub async fn live_share(&self, secret_hash: &str, at: i64) -> Result<Option<Share>> {
        let row = sqlx::query(
            "SELECT id, dashboard, view, created_by, created_at, expires_at, revoked_at FROM shares WHERE secret_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(secret_hash)
        .bind(at)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(share).transpose()
    }

    /// Revokes a live share link — any, or only one created by `created_by`; whether one was.
    pub async fn revoke_share(&self, id: &str, created_by: Option<&str>) -> Result<bool> {
        let done = match created_by {
            Some(email) => {
                sqlx::query(
                    "UPDATE shares SET revoked_at = $1 WHERE id = $2 AND created_by = $3 AND revoked_at IS NULL",
                )
                .bind(now())
                .bind(id)
                .bind(email)
                .execute(self.pool())
                .await?
            }
            None => {
                sqlx::query("UPDATE shares SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now())
                    .bind(id)
                    .execute(self.pool())
                    .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }
}

fn share(row: &AnyRow) -> Result<Share> {
    Ok(Share {
        id: row.try_get(0)?,
        dashboard: row.try_get(1)?,
        view: row.try_get(2)?,
        created_by: row.try_get(3)?,
        created_at: row.try_get(4)?,
        expires_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
    })
}
