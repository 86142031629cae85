//! Accounts: an e-mail, a role, the owners whose KPIs it sees, a password hash, and whether
//! it is disabled.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, StateDb, StateError, now};

/// What an account may see and change (SPEC §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Admin,
    Editor,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "editor" => Some(Role::Editor),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// An account as stored (without its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub email: String,
    pub role: Role,
    /// The owners whose KPIs it sees (and, as an editor, edits); empty means every owner.
    pub owners: Vec<String>,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

impl Account {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// An account to create.
#[derive(Debug)]
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub role: Role,
    pub owners: &'a [String],
    pub password_hash: &'a str,
}

impl StateDb {
    /// Creates an account; [`StateError::Exists`] if the e-mail has one already.
    pub async fn insert_account(&self, new: &NewAccount<'_>) -> Result<Account> {
        let created_at = now();
        let mut tx = self.pool().begin().await?;
        let exists = sqlx::query("SELECT 1 FROM accounts WHERE email = $1")
            .bind(new.email)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if exists {
            return Err(StateError::Exists(format!(
                "an account for {} exists already",
                new.email
            )));
        }
        sqlx::query(
            "INSERT INTO accounts (email, role, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(new.email)
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        insert_owners(&mut tx, new.email, new.owners).await?;
        tx.commit().await?;
        Ok(Account {
            email: new.email.to_string(),
            role: new.role,
            owners: new.owners.to_vec(),
            created_at,
            disabled_at: None,
        })
    }

    /// Every account, by e-mail.
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let rows =
            sqlx::query("SELECT email, role, created_at, disabled_at FROM accounts ORDER BY email")
                .fetch_all(self.pool())
                .await?;
        let owners = sqlx::query("SELECT email, owner FROM account_owners ORDER BY email, owner")
            .fetch_all(self.pool())
            .await?;
        let mut accounts = rows.iter().map(account).collect::<Result<Vec<_>>>()?;
        for row in &owners {
            let email: String = row.try_get(0)?;
            let owner: String = row.try_get(1)?;
            if let Some(account) = accounts.iter_mut().find(|a| a.email == email) {
                account.owners.push(owner);
            }
        }
        Ok(accounts)
    }

    /// One account by e-mail.
    pub async fn account(&self, email: &str) -> Result<Option<Account>> {
        let Some(row) = sqlx::query(
            "SELECT email, role, created_at, disabled_at FROM accounts WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let mut found = account(&row)?;
        found.owners = self.owners_of(email).await?;
        Ok(Some(found))
    }

    async fn owners_of(&self, email: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT owner FROM account_owners WHERE email = $1 ORDER BY owner")
            .bind(email)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(StateError::from))
            .collect()
    }

    /// Whether the database holds any account, enabled or disabled: once it has held one, a
    /// server never returns to the open mode (accounts are disabled, never deleted).
    pub async fn has_accounts(&self) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM accounts LIMIT 1")
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }

    /// Whether any account that is not disabled exists: with none, the server stays on
    /// loopback and asks nobody to sign in.
    pub async fn has_active_accounts(&self) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM accounts WHERE disabled_at IS NULL LIMIT 1")
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    /// The stored password hash of an account that is not disabled.
    pub async fn password_hash(&self, email: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT password_hash FROM accounts WHERE email = $1 AND disabled_at IS NULL",
        )
        .bind(email)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        })
    }

    /// Replaces an account's password hash and ends its sessions.
    pub async fn set_password_hash(&self, email: &str, hash: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let changed = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE email = $2")
            .bind(hash)
            .bind(email)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StateError::NotFound(format!("no account for {email}")));
        }
        end_sessions(&mut tx, email).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes an account's role and, when given, the owners it sees (empty: every owner);
    /// its sessions end, so the change applies at once to its browsers too. Its tokens keep
    /// working, with the new role.
    pub async fn update_account(
        &self,
        email: &str,
        role: Option<Role>,
        owners: Option<&[String]>,
    ) -> Result<Account> {
        let mut tx = self.pool().begin().await?;
        let exists = sqlx::query("SELECT 1 FROM accounts WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StateError::NotFound(format!("no account for {email}")));
        }
        if let Some(role) = role {
            sqlx::query("UPDATE accounts SET role = $1 WHERE email = $2")
                .bind(role.as_str())
                .bind(email)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(owners) = owners {
            sqlx::query("DELETE FROM account_owners WHERE email = $1")
                .bind(email)
                .execute(&mut *tx)
                .await?;
            insert_owners(&mut tx, email, owners).await?;
        }
        end_sessions(&mut tx, email).await?;
        tx.commit().await?;
        self.account(email)
            .await?
            .ok_or_else(|| StateError::NotFound(format!("no account for {email}")))
    }

    /// Disables an account: its sessions end and its tokens stop working at once. Returns
    /// false when it was disabled already.
    pub async fn disable_account(&self, email: &str) -> Result<bool> {
        let Some(found) = self.account(email).await? else {
            return Err(StateError::NotFound(format!("no account for {email}")));
        };
        if found.is_disabled() {
            return Ok(false);
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE accounts SET disabled_at = $1 WHERE email = $2")
            .bind(now())
            .bind(email)
            .execute(&mut *tx)
            .await?;
        end_sessions(&mut tx, email).await?;
        tx.commit().await?;
        Ok(true)
    }
}

type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// Ends every session of an account, inside `tx`.
async fn end_sessions(tx: &mut Tx<'_>, email: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE email = $1")
        .bind(email)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records the owners an account sees, inside `tx`.
async fn insert_owners(tx: &mut Tx<'_>, email: &str, owners: &[String]) -> Result<()> {
    for owner in owners {
        sqlx::query("INSERT INTO account_owners (email, owner) VALUES ($1, $2)")
            .bind(email)
            .bind(owner.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn account(row: &AnyRow) -> Result<Account> {
    let role: String = row.try_get(1)?;
    Ok(Account {
        email: row.try_get(0)?,
        role: Role::parse(&role).ok_or_else(|| StateError::Corrupt(format!("role `{role}`")))?,
        owners: Vec::new(),
        created_at: row.try_get(2)?,
        disabled_at: row.try_get(3)?,
    })
}
