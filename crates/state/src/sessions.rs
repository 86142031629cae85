//! Browser sessions: the session layer's records, keyed by a hash of the cookie's id so the
//! table holds nothing a thief could replay.

use sqlx::Row;

use crate::{Result, StateDb, now};

/// A session record as stored: `data` is the session layer's own serialization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub id_hash: String,
    /// The signed-in account, if any: its sessions end when it is disabled.
    pub email: Option<String>,
    pub data: String,
    pub expires_at: i64,
}

impl StateDb {
    /// Stores a new session; false (nothing stored) when the id is taken.
    pub async fn insert_session(&self, session: &StoredSession) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO sessions (id_hash, email, data, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id_hash) DO NOTHING",
        )
        .bind(&session.id_hash)
        .bind(session.email.as_deref())
        .bind(&session.data)
        .bind(session.expires_at)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Creates or replaces a session.
    pub async fn put_session(&self, session: &StoredSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, email, data, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id_hash) DO UPDATE SET email = excluded.email, data = excluded.data, \
             expires_at = excluded.expires_at",
        )
        .bind(&session.id_hash)
        .bind(session.email.as_deref())
        .bind(&session.data)
        .bind(session.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A session that has not expired.
    pub async fn session(&self, id_hash: &str) -> Result<Option<StoredSession>> {
        let row = sqlx::query(
            "SELECT id_hash, email, data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now())
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            None => None,
            Some(row) => Some(StoredSession {
                id_hash: row.try_get(0)?,
                email: row.try_get(1)?,
                data: row.try_get(2)?,
                expires_at: row.try_get(3)?,
            }),
        })
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn delete_expired_sessions(&self) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now())
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// How many live sessions an account has (for tests and `users list`).
    pub async fn session_count(&self, email: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM sessions WHERE email = $1 AND expires_at > $2")
            .bind(email)
            .bind(now())
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
    }
}
