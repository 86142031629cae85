//! Who may see and change what (SPEC §13): account e-mails and passwords (Argon2id), API
//! tokens (only their SHA-256 is stored), the role rules that decide which KPIs a visitor
//! sees, and the throttle that slows repeated sign-in attempts.
//!
//! **Invariant:** every decision "may this visitor see this KPI / do this" is made by
//! [`Visitor`]; surfaces filter with it and never look at roles or owners themselves. This
//! crate knows nothing of HTTP or KPIs' formulas — a KPI is seen through its owner.

mod password;
mod rules;
mod throttle;
mod token;

pub use password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, check_password_policy};
pub use rules::{Principal, Visitor};
pub use tablero_state::{Account, Role};
pub use throttle::{SignInThrottle, Throttled};
pub use token::{IssuedToken, SHARE_PREFIX, TOKEN_PREFIX, hash_token};

use tablero_state::{NewAccount, NewToken, StateDb, StateError};

/// What went wrong deciding or changing access.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Not an e-mail address Tablero accepts.
    #[error("`{0}` is not an e-mail address")]
    BadEmail(String),
    /// The password does not meet the policy; the message says why.
    #[error("{0}")]
    WeakPassword(String),
    /// A token name that is empty, too long or has control characters.
    #[error("{0}")]
    BadName(String),
    /// Hashing failed (a bug or the machine out of memory).
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    State(#[from] StateError),
}

impl AccessError {
    /// Whether the person (their input) is at fault rather than the machine.
    pub fn is_user_error(&self) -> bool {
        match self {
            AccessError::Hash(_) => false,
            AccessError::State(err) => err.is_user_error(),
            _ => true,
        }
    }
}

pub type Result<T, E = AccessError> = std::result::Result<T, E>;

/// An e-mail as stored: trimmed and lowercased; refused when it has no `@`, spaces, control
/// characters or more than 254 characters.
pub fn normalize_email(text: &str) -> Result<String> {
    let email = text.trim().to_lowercase();
    let well_formed = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if well_formed {
        Ok(email)
    } else {
        Err(AccessError::BadEmail(text.chars().take(80).collect()))
    }
}

/// Creates an account with its password hashed by Argon2id.
pub async fn add_account(
    db: &StateDb,
    email: &str,
    role: Role,
    owners: &[String],
    password: String,
) -> Result<Account> {
    let email = normalize_email(email)?;
    check_password_policy(&password)?;
    let hash = hash_off_thread(password).await?;
    Ok(db
        .insert_account(&NewAccount {
            email: &email,
            role,
            owners,
            password_hash: &hash,
        })
        .await?)
}

/// Replaces an account's password; its sessions end.
pub async fn set_password(db: &StateDb, email: &str, password: String) -> Result<()> {
    let email = normalize_email(email)?;
    check_password_policy(&password)?;
    let hash = hash_off_thread(password).await?;
    Ok(db.set_password_hash(&email, &hash).await?)
}

/// The account an e-mail and password sign in as, if they match an enabled account. An
/// unknown e-mail costs the same hashing work as a wrong password, so timing does not tell
/// which accounts exist.
pub async fn sign_in(db: &StateDb, email: &str, password: String) -> Result<Option<Account>> {
    let Ok(email) = normalize_email(email) else {
        let _ = verify_off_thread(password, None).await;
        return Ok(None);
    };
    let stored = db.password_hash(&email).await?;
    if !verify_off_thread(password, stored).await? {
        return Ok(None);
    }
    Ok(db.account(&email).await?.filter(|a| !a.is_disabled()))
}

/// Issues a token for an account: the returned secret is shown once; the database keeps its
/// hash.
pub async fn create_token(db: &StateDb, email: &str, name: &str) -> Result<IssuedToken> {
    let email = normalize_email(email)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AccessError::BadName(
            "a token's name must be 1 to 100 characters with no control characters".into(),
        ));
    }
    let issued = IssuedToken::generate();
    db.insert_token(&NewToken {
        id: &issued.id,
        email: &email,
        name,
        secret_hash: &issued.hash,
    })
    .await?;
    Ok(issued)
}

/// The account behind an `Authorization: Bearer` token, if it is valid, not revoked and its
/// account enabled.
pub async fn account_for_token(db: &StateDb, token: &str) -> Result<Option<Account>> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    Ok(db.account_for_token(&hash_token(token)).await?)
}

/// Makes a share link to one dashboard for an account, living `days` days: the returned
/// secret goes into the link's address once; the database keeps its hash.
pub async fn create_share(
    db: &StateDb,
    email: &str,
    dashboard: &str,
    view: &str,
    days: u32,
) -> Result<(tablero_state::Share, String)> {
    let issued = IssuedToken::with_prefix(SHARE_PREFIX);
    let share = db
        .insert_share(&tablero_state::NewShare {
            id: &issued.id,
            secret_hash: &issued.hash,
            dashboard,
            view,
            created_by: email,
            expires_at: tablero_state::now().saturating_add(i64::from(days) * 86_400),
        })
        .await?;
    Ok((share, issued.secret))
}

/// The share link behind a secret, with its creator's account: `None` when it is unknown,
/// expired or revoked, or the account is disabled or gone.
pub async fn share_for_link(
    db: &StateDb,
    secret: &str,
) -> Result<Option<(tablero_state::Share, Account)>> {
    if !secret.starts_with(SHARE_PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let Some(share) = db
        .live_share(&hash_token(secret), tablero_state::now())
        .await?
    else {
        return Ok(None);
    };
    let account = db
        .account(&share.created_by)
        .await?
        .filter(|a| !a.is_disabled());
    Ok(account.map(|a| (share, a)))
}

async fn hash_off_thread(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| AccessError::Hash(e.to_string()))?
}

async fn verify_off_thread(password: String, stored: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
        .await
        .map_err(|e| AccessError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests;
