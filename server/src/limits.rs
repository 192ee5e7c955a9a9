//! Rate limits against guessing: staff password logins, citizens' eID
//! logins and invitation-code redemptions. Fixed windows on the server's
//! clock: in memory for one node on SQLite, in the database on PostgreSQL,
//! where several nodes share them (N nodes do not allow N times the
//! limit). The database holds an HMAC of each key (user name, address,
//! device) under the server's token key, never the key itself.
//!
//! An attempt is **reserved before** the work it guards (the argon2 check,
//! the ID-token check) and given back if it succeeds, so concurrent
//! guesses cannot all pass a check made before any of them was counted.
//!
//! Password logins are limited per account *and* source, so knowing a user
//! name is not enough to lock its owner out. From a device the account has
//! never logged in from: 5 failures per account and address, 20 per
//! account, 20 per address. From a device it has (the owner's desk): 5 per
//! that device, 20 per address — nobody else's guessing touches it. An
//! attacker who exhausts an account's budget from new devices and many
//! addresses still leaves the owner's own devices working.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use crate::auth::SecretKey;
use crate::storage::{Storage, StorageError};

use axum::http::HeaderMap;

/// One policy: at most `max` events per `window` seconds per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Events allowed in a window.
    pub max: u32,
    /// Window length, seconds.
    pub window: i64,
}

/// Failed logins for one account from one address: 5 per 15 minutes.
pub const LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS: Policy = Policy {
    max: 5,
    window: 900,
};
/// Failed logins for one account from devices it has never used, from any
/// address: 20 per 15 minutes.
pub const LOGIN_FAILURES_PER_ACCOUNT: Policy = Policy {
    max: 20,
    window: 900,
};
/// Failed logins from one device the account has logged in from before:
/// 5 per 15 minutes (its own allowance, untouched by others' guessing).
pub const LOGIN_FAILURES_PER_KNOWN_DEVICE: Policy = Policy {
    max: 5,
    window: 900,
};
/// Failed logins from one address: 20 per 15 minutes.
pub const LOGIN_FAILURES_PER_ADDRESS: Policy = Policy {
    max: 20,
    window: 900,
};
/// Sign-up attempts (code redemptions) from one address: 10 per 15 minutes.
pub const REDEMPTIONS_PER_ADDRESS: Policy = Policy {
    max: 10,
    window: 900,
};

/// Entries kept before expired windows are swept.
const SWEEP_AT: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    count: u32,
    /// A refusal in this window was already reported (logged once).
    reported: bool,
}

/// Counters for one policy. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Limiter {
    policy: Policy,
    windows: Arc<Mutex<HashMap<String, Window>>>,
    shared: Option<Shared>,
    /// Attempts refused (for `/metrics`).
    refused: Arc<std::sync::atomic::AtomicU64>,
}

/// Windows kept in the database for every node.
#[derive(Clone)]
struct Shared {
    storage: Storage,
    /// The policy's name in the table.
    name: &'static str,
    /// Keys are stored as HMAC-SHA256 under this (the token key).
    secret: Arc<SecretKey>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn key(&self, key: &str) -> String {
        hex::encode(self.secret.mac(self.name.as_bytes(), key.as_bytes()))
    }
}

/// Why an attempt may not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Over the limit.
    #[error("rate limited for {} s", .0.wait)]
    Refused(Refused),
    /// The shared windows could not be read (the database).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// An attempt the limiter refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Seconds until the window ends.
    pub wait: i64,
    /// The first refusal of this window: report it (log and audit) once.
    pub first: bool,
}

impl Limiter {
    /// A limiter for `policy`, in memory (one node).
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            windows: Arc::default(),
            shared: None,
            refused: Arc::default(),
        }
    }

    /// A limiter for `policy` whose windows every node shares in
    /// `storage`, under the table name `name`.
    pub fn shared(
        policy: Policy,
        name: &'static str,
        storage: Storage,
        secret: Arc<SecretKey>,
    ) -> Self {
        Self {
            policy,
            windows: Arc::default(),
            shared: Some(Shared {
                storage,
                name,
                secret,
            }),
            refused: Arc::default(),
        }
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Some(seconds to wait)` when `key` has used up its window at `now`
    /// (the in-memory windows; for tests).
    pub fn check(&self, key: &str, now: i64) -> Option<i64> {
        let windows = self.windows();
        let w = windows.get(key)?;
        let ends = w.started + self.policy.window;
        (now < ends && w.count >= self.policy.max).then_some(ends - now)
    }

    /// Reserves one attempt for `key` at `now`, atomically: counted now,
    /// before the work it guards. Give it back with [`Limiter::release`]
    /// when the attempt succeeds.
    pub async fn reserve(&self, key: &str, now: i64) -> Result<(), LimitError> {
        let result = self.reserve_counted(key, now).await;
        if matches!(result, Err(LimitError::Refused(_))) {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    async fn reserve_counted(&self, key: &str, now: i64) -> Result<(), LimitError> {
        let Some(shared) = &self.shared else {
            return self.reserve_here(key, now).map_err(LimitError::Refused);
        };
        let window = self.policy.window;
        let stored = shared.key(key);
        let (started, count) = shared
            .storage
            .rate_count(shared.name, &stored, now, window)
            .await?;
        // Now and then, the ended windows go (cheap: an index on `started`).
        if count == 1 && now % 97 == 0 {
            let _ = shared.storage.rate_sweep(now - window).await;
        }
        let max = i64::from(self.policy.max);
        if count > max {
            return Err(LimitError::Refused(Refused {
                wait: (started + window - now).max(1),
                first: count == max + 1,
            }));
        }
        Ok(())
    }

    /// [`Limiter::reserve`], with the database's failure apart from the
    /// refusal: `Ok(Err(refused))` when over the limit.
    pub async fn try_reserve(
        &self,
        key: &str,
        now: i64,
    ) -> Result<Result<(), Refused>, StorageError> {
        match self.reserve(key, now).await {
            Ok(()) => Ok(Ok(())),
            Err(LimitError::Refused(refused)) => Ok(Err(refused)),
            Err(LimitError::Storage(e)) => Err(e),
        }
    }

    fn reserve_here(&self, key: &str, now: i64) -> Result<(), Refused> {
        let mut windows = self.windows();
        if windows.len() >= SWEEP_AT {
            let window = self.policy.window;
            windows.retain(|_, w| now < w.started + window);
        }
        let w = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            count: 0,
            reported: false,
        });
        if now >= w.started + self.policy.window {
            *w = Window {
                started: now,
                count: 0,
                reported: false,
            };
        }
        if w.count >= self.policy.max {
            let first = !w.reported;
            w.reported = true;
            return Err(Refused {
                wait: w.started + self.policy.window - now,
                first,
            });
        }
        w.count += 1;
        Ok(())
    }

    /// Gives back an attempt [`Limiter::reserve`] counted.
    pub async fn release(&self, key: &str) {
        if let Some(shared) = &self.shared {
            if let Err(error) = shared
                .storage
                .rate_uncount(shared.name, &shared.key(key))
                .await
            {
                tracing::warn!(%error, "a rate-limit attempt could not be given back");
            }
            return;
        }
        if let Some(w) = self.windows().get_mut(key) {
            w.count = w.count.saturating_sub(1);
        }
    }

    /// Counts one event for `key` at `now` (whether or not over the limit).
    pub async fn record(&self, key: &str, now: i64) {
        let _ = self.reserve(key, now).await;
    }

    /// Forgets `key`.
    pub async fn clear(&self, key: &str) {
        if let Some(shared) = &self.shared {
            let _ = shared
                .storage
                .rate_clear(shared.name, &shared.key(key))
                .await;
            return;
        }
        self.windows().remove(key);
    }
}

/// Which limit an attempt ran into (a compile-time word for logs and the
/// audit trail: never the user name or the address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One account from one address.
    AccountAndAddress,
    /// One account from new devices.
    Account,
    /// One known device.
    KnownDevice,
    /// One address.
    Address,
}

impl Scope {
    /// The word logged and audited.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountAndAddress => "account_and_address",
            Self::Account => "account",
            Self::KnownDevice => "known_device",
            Self::Address => "address",
        }
    }
}

/// Attempts reserved on several limiters at once; give them back with
/// [`Reserved::release`] when the attempt succeeded.
#[derive(Debug)]
#[must_use]
pub struct Reserved<'a> {
    taken: Vec<(&'a Limiter, String)>,
}

impl Reserved<'_> {
    /// The attempt failed: it stays counted.
    pub fn keep(self) {}

    /// The attempt succeeded: it does not count.
    pub async fn release(self) {
        for (limiter, key) in &self.taken {
            limiter.release(key).await;
        }
    }
}

/// Reserves one attempt on every `(scope, limiter, key)`, or none: when one
/// refuses, the others are given back and the refusal (the longest wait,
/// and whether any is the first of its window) is returned with its scope.
pub async fn reserve_all<'a>(
    limits: &[(Scope, &'a Limiter, String)],
    now: i64,
) -> Result<Reserved<'a>, (Scope, LimitError)> {
    let mut taken: Vec<(&'a Limiter, String)> = Vec::with_capacity(limits.len());
    for (scope, limiter, key) in limits {
        if let Err(error) = limiter.reserve(key, now).await {
            for (l, k) in &taken {
                l.release(k).await;
            }
            return Err((*scope, error));
        }
        taken.push((limiter, key.clone()));
    }
    Ok(Reserved { taken })
}

/// All the server's limiters.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Failed logins per account and address.
    pub login_account_address: Limiter,
    /// Failed logins per account from devices it has never used.
    pub login_account: Limiter,
    /// Failed logins per known device.
    pub login_device: Limiter,
    /// Failed logins per address.
    pub login_address: Limiter,
    /// Code redemptions per address.
    pub redeem_address: Limiter,
    trusted_proxies: Arc<Vec<IpAddr>>,
}

impl Limits {
    /// Limiters with the default policies, in memory; `trusted_proxies`
    /// may set `X-Forwarded-For`.
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            login_account_address: Limiter::new(LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS),
            login_account: Limiter::new(LOGIN_FAILURES_PER_ACCOUNT),
            login_device: Limiter::new(LOGIN_FAILURES_PER_KNOWN_DEVICE),
            login_address: Limiter::new(LOGIN_FAILURES_PER_ADDRESS),
            redeem_address: Limiter::new(REDEMPTIONS_PER_ADDRESS),
            trusted_proxies: Arc::new(trusted_proxies),
        }
    }

    /// The same limiters with their windows in `storage`, shared by every
    /// node on it; keys are stored as HMACs under `secret`.
    pub fn shared(trusted_proxies: Vec<IpAddr>, storage: &Storage, secret: SecretKey) -> Self {
        let secret = Arc::new(secret);
        let limiter = |policy, name| Limiter::shared(policy, name, storage.clone(), secret.clone());
        Self {
            login_account_address: limiter(
                LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS,
                "login_account_address",
            ),
            login_account: limiter(LOGIN_FAILURES_PER_ACCOUNT, "login_account"),
            login_device: limiter(LOGIN_FAILURES_PER_KNOWN_DEVICE, "login_device"),
            login_address: limiter(LOGIN_FAILURES_PER_ADDRESS, "login_address"),
            redeem_address: limiter(REDEMPTIONS_PER_ADDRESS, "redeem_address"),
            trusted_proxies: Arc::new(trusted_proxies),
        }
    }

    /// Refusals per limit, for `/metrics`.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "# HELP samtale_rate_limited_total Attempts refused by a rate limit, by limit.\n# TYPE samtale_rate_limited_total counter"
        );
        for (name, limiter) in [
            ("login_account_address", &self.login_account_address),
            ("login_account", &self.login_account),
            ("login_device", &self.login_device),
            ("login_address", &self.login_address),
            ("redeem_address", &self.redeem_address),
        ] {
            let _ = writeln!(
                out,
                "samtale_rate_limited_total{{limit=\"{name}\"}} {}",
                limiter.refused.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    }

    /// The client's address: the socket's peer, unless that peer is a
    /// trusted proxy, in which case the right-most address in
    /// `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_address(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip();
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        forwarded
            .iter()
            .rev()
            .filter_map(|s| s.parse::<IpAddr>().ok())
            .find(|ip| !self.trusted_proxies.contains(ip))
            .unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_counted_before_the_work_and_given_back_on_success() {
        let l = Limiter::new(Policy { max: 2, window: 60 });
        assert_eq!(l.reserve_here("k", 0), Ok(()));
        assert_eq!(l.reserve_here("k", 0), Ok(()));
        // A third concurrent attempt is refused before any finished.
        assert_eq!(
            l.reserve_here("k", 1),
            Err(Refused {
                wait: 59,
                first: true
            })
        );
        assert_eq!(
            l.reserve_here("k", 2),
            Err(Refused {
                wait: 58,
                first: false
            })
        );
        l.release("k").await;
        assert_eq!(l.reserve_here("k", 3), Ok(()));
        // All or nothing across limiters.
        let (a, b) = (
            Limiter::new(Policy { max: 1, window: 60 }),
            Limiter::new(Policy { max: 1, window: 60 }),
        );
        b.record("x", 0).await;
        let refused = reserve_all(
            &[
                (Scope::Address, &a, "x".into()),
                (Scope::Account, &b, "x".into()),
            ],
            0,
        )
        .await;
        assert_eq!(refused.err().map(|(s, _)| s), Some(Scope::Account));
        assert_eq!(
            a.check("x", 0),
            None,
            "the first reservation was given back"
        );
    }

    #[tokio::test]
    async fn a_window_fills_then_resets() {
        let l = Limiter::new(Policy { max: 2, window: 60 });
        assert_eq!(l.check("k", 0), None);
        l.record("k", 0).await;
        l.record("k", 10).await;
        assert_eq!(l.check("k", 10), Some(50));
        assert_eq!(l.check("other", 10), None);
        assert_eq!(l.check("k", 60), None);
        l.record("k", 60).await;
        assert_eq!(l.check("k", 61), None);
        l.clear("k").await;
        assert_eq!(l.check("k", 61), None);
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let limits = Limits::new(vec![proxy]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7, 10.0.0.1".parse().unwrap(),
        );
        assert_eq!(
            limits.client_address(SocketAddr::new(proxy, 1), &headers),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "the right-most untrusted hop, not a spoofable left-most one"
        );
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            limits.client_address(SocketAddr::new(stranger, 1), &headers),
            stranger
        );
    }
}
