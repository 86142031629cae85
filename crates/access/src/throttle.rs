//! Slowing repeated sign-in attempts (governor's keyed GCRA limiters): per account and
//! address pair (tight: guessing one account from one place), per address (one place trying
//! many accounts) and per account (many places trying one account, looser so that its owner
//! still signs in from elsewhere). Every attempt counts, successful or not.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Sign-in attempts refused for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long until the next attempt is accepted.
    pub retry_after: Duration,
}

/// The limits on sign-in attempts; shared by every request of a server.
pub struct SignInThrottle {
    pair: DefaultKeyedRateLimiter<(String, IpAddr)>,
    address: DefaultKeyedRateLimiter<IpAddr>,
    account: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl std::fmt::Debug for SignInThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInThrottle")
    }
}

/// Keys kept before forgetting the ones whose limits have refilled.
const RETAIN_ABOVE: usize = 10_000;

fn quota(burst: u32, every: Duration) -> Quota {
    // `burst` is a non-zero constant and `every` a non-zero duration at every call site.
    Quota::with_period(every)
        .expect("a non-zero period")
        .allow_burst(NonZeroU32::new(burst).expect("a non-zero burst"))
}

impl Default for SignInThrottle {
    /// 5 attempts at once per account and address, then one a minute; 30 per address, then
    /// one every 2 s; 20 per account, then one every 30 s.
    fn default() -> SignInThrottle {
        SignInThrottle {
            pair: RateLimiter::keyed(quota(5, Duration::from_secs(60))),
            address: RateLimiter::keyed(quota(30, Duration::from_secs(2))),
            account: RateLimiter::keyed(quota(20, Duration::from_secs(30))),
            clock: DefaultClock::default(),
        }
    }
}

impl SignInThrottle {
    /// Counts an attempt to sign in as `email` from `address`; `Err` when it must wait.
    pub fn attempt(&self, email: &str, address: IpAddr) -> Result<(), Throttled> {
        self.forget_old();
        let email: String = email.trim().to_lowercase().chars().take(254).collect();
        let now = self.clock.now();
        let wait = |n: governor::NotUntil<_>| Throttled {
            retry_after: n.wait_time_from(now).max(Duration::from_secs(1)),
        };
        self.pair
            .check_key(&(email.clone(), address))
            .map_err(wait)?;
        self.address.check_key(&address).map_err(wait)?;
        self.account.check_key(&email).map_err(wait)?;
        Ok(())
    }

    fn forget_old(&self) {
        if self.pair.len() > RETAIN_ABOVE {
            self.pair.retain_recent();
        }
        if self.address.len() > RETAIN_ABOVE {
            self.address.retain_recent();
        }
        if self.account.len() > RETAIN_ABOVE {
            self.account.retain_recent();
        }
    }
}
