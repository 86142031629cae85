//! API tokens: `tbl_<id>_<secret>`, 32 random bytes of secret; the public id names the token
//! in lists, and only the SHA-256 of the whole token is stored.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every token starts with this, so it is recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "tbl_";
/// Every share link's secret starts with this: never mistaken for a token.
pub const SHARE_PREFIX: &str = "shr_";

/// A token just created: `secret` is shown to the person once and then forgotten.
pub struct IssuedToken {
    pub id: String,
    pub secret: String,
    pub hash: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl IssuedToken {
    pub(crate) fn generate() -> IssuedToken {
        IssuedToken::with_prefix(TOKEN_PREFIX)
    }

    /// A secret of the same strength for another use (share links).
    pub(crate) fn with_prefix(prefix: &str) -> IssuedToken {
        let mut rng = rand::rng();
        let mut id = [0u8; 6];
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut id);
        rng.fill_bytes(&mut secret);
        let id = hex(&id);
        let secret = format!("{prefix}{id}_{}", hex(&secret));
        IssuedToken {
            hash: hash_token(&secret),
            id,
            secret,
        }
    }
}

/// The stored form of a token: its SHA-256 in hex. A token has 256 random bits, so a fast
/// hash is enough (no dictionary to try).
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
