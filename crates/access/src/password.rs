//! Passwords: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), a random salt per
//! hash, and the policy a new password must meet.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use crate::AccessError;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (hashing a megabyte on every attempt would be a free DoS).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// OWASP's recommended Argon2id configuration: m = 19 MiB, t = 2, p = 1.
fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's documented bounds.
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether a new password may be used.
pub fn check_password_policy(password: &str) -> Result<(), AccessError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AccessError::WeakPassword(format!(
            "the password has {chars} characters; at least {MIN_PASSWORD_CHARS} are needed"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AccessError::WeakPassword(format!(
            "the password has {chars} characters; at most {MAX_PASSWORD_CHARS} are accepted"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(AccessError::WeakPassword(
            "the password has a control character (a line break?)".into(),
        ));
    }
    Ok(())
}

/// The PHC string of a password (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub fn hash(password: &str) -> Result<String, AccessError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccessError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Hash(e.to_string()))
}

/// Whether `password` matches `stored`. With no stored hash (an unknown account) the same
/// work is done against a fixed hash, and the answer is false.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let decoy = DECOY.get_or_init(|| hash("decoy password of no account").unwrap_or_default());
    let candidate = password
        .chars()
        .take(MAX_PASSWORD_CHARS)
        .collect::<String>();
    let target = stored.unwrap_or(decoy);
    let Ok(parsed) = PasswordHash::new(target) else {
        return false;
    };
    argon2()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok()
        && stored.is_some()
}
