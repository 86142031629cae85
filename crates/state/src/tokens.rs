//! API tokens: a public id, a name chosen by the person, and the hash of the secret. The
//! secret itself never reaches this crate.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Account, Result, StateDb, StateError, now};

/// A token to store.
#[derive(Debug)]
pub struct NewToken<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub secret_hash: &'a str,
}

/// A token as listed (no secret, no hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl StateDb {
    /// Stores a token for an existing, enabled account; a name may be used by one active
    /// token of an account at a time.
    pub async fn insert_token(&self, new: &NewToken<'_>) -> Result<TokenInfo> {
        match self.account(new.email).await? {
            None => {
                return Err(StateError::NotFound(format!(
                    "no account for {}",
                    new.email
                )));
            }
            Some(a) if a.is_disabled() => {
                return Err(StateError::NotFound(format!(
                    "the account {} is disabled",
                    new.email
                )));
            }
            Some(_) => {}
        }
        let created_at = now();
        let mut tx = self.pool().begin().await?;
        let taken = sqlx::query(
            "SELECT 1 FROM tokens WHERE email = $1 AND name = $2 AND revoked_at IS NULL",
        )
        .bind(new.email)
        .bind(new.name)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if taken {
            return Err(StateError::Exists(format!(
                "{} has an active token named `{}` already (revoke it first)",
                new.email, new.name
            )));
        }
        sqlx::query(
            "INSERT INTO tokens (id, email, name, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new.id)
        .bind(new.email)
        .bind(new.name)
        .bind(new.secret_hash)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TokenInfo {
            id: new.id.to_string(),
            email: new.email.to_string(),
            name: new.name.to_string(),
            created_at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// Every token, or one account's, newest first.
    pub async fn tokens(&self, email: Option<&str>) -> Result<Vec<TokenInfo>> {
        let rows = match email {
            Some(email) => {
                sqlx::query(
                    "SELECT id, email, name, created_at, last_used_at, revoked_at FROM tokens WHERE email = $1 ORDER BY created_at DESC, id",
                )
                .bind(email)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, email, name, created_at, last_used_at, revoked_at FROM tokens ORDER BY email, created_at DESC, id",
                )
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(token).collect()
    }

    /// The account a token's hash belongs to, if the token is not revoked and the account
    /// not disabled; notes when the token was used (at most once a minute).
    pub async fn account_for_token(&self, secret_hash: &str) -> Result<Option<Account>> {
        let Some(row) = sqlx::query(
            "SELECT t.id, t.email, t.last_used_at FROM tokens t JOIN accounts a ON a.email = t.email \
             WHERE t.secret_hash = $1 AND t.revoked_at IS NULL AND a.disabled_at IS NULL",
        )
        .bind(secret_hash)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let id: String = row.try_get(0)?;
        let email: String = row.try_get(1)?;
        let last_used: Option<i64> = row.try_get(2)?;
        let now = now();
        if last_used.is_none_or(|t| now - t >= 60) {
            sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(self.pool())
                .await?;
        }
        self.account(&email).await
    }

    /// Revokes an account's active token by name or id; it stops working at once.
    pub async fn revoke_token(&self, email: &str, name_or_id: &str) -> Result<TokenInfo> {
        let changed = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE email = $2 AND (name = $3 OR id = $3) AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(email)
        .bind(name_or_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StateError::NotFound(format!(
                "{email} has no active token named `{name_or_id}`"
            )));
        }
        let tokens = self.tokens(Some(email)).await?;
        tokens
            .into_iter()
            .find(|t| (t.name == name_or_id || t.id == name_or_id) && t.revoked_at.is_some())
            .ok_or_else(|| StateError::NotFound(format!("token `{name_or_id}`")))
    }
}

fn token(row: &AnyRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.try_get(0)?,
        email: row.try_get(1)?,
        name: row.try_get(2)?,
        created_at: row.try_get(3)?,
        last_used_at: row.try_get(4)?,
        revoked_at: row.try_get(5)?,
    })
}
