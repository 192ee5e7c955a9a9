//! Rate limits against guessing: failed staff logins per account and per
//! client address, and invitation-code redemptions per client address.
//! Fixed windows on the server's clock, kept in memory per node (a cluster
//! of n nodes therefore allows up to n times the limit; see docs).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;

/// One policy: at most `max` events per `window` seconds per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Events allowed in a window.
    pub max: u32,
    /// Window length, seconds.
    pub window: i64,
}

/// Failed logins for one account: 5 per 15 minutes.
pub const LOGIN_FAILURES_PER_ACCOUNT: Policy = Policy {
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
}

/// Counters for one policy. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Limiter {
    policy: Policy,
    windows: Arc<Mutex<HashMap<String, Window>>>,
}

impl Limiter {
    /// A limiter for `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            windows: Arc::default(),
        }
    }

    /// `Some(seconds to wait)` when `key` has used up its window at `now`.
    pub fn check(&self, key: &str, now: i64) -> Option<i64> {
        let windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let w = windows.get(key)?;
        let ends = w.started + self.policy.window;
        (now < ends && w.count >= self.policy.max).then_some(ends - now)
    }

    /// Counts one event for `key` at `now`.
    pub fn record(&self, key: &str, now: i64) {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= SWEEP_AT {
            let window = self.policy.window;
            windows.retain(|_, w| now < w.started + window);
        }
        let w = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now >= w.started + self.policy.window {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
    }

    /// Forgets `key` (after a successful login).
    pub fn clear(&self, key: &str) {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        windows.remove(key);
    }
}

/// All the server's limiters.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Failed logins per account.
    pub login_account: Limiter,
    /// Failed logins per address.
    pub login_address: Limiter,
    /// Code redemptions per address.
    pub redeem_address: Limiter,
    trusted_proxies: Arc<Vec<IpAddr>>,
}

impl Limits {
    /// Limiters with the default policies; `trusted_proxies` may set
    /// `X-Forwarded-For`.
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            login_account: Limiter::new(LOGIN_FAILURES_PER_ACCOUNT),
            login_address: Limiter::new(LOGIN_FAILURES_PER_ADDRESS),
            redeem_address: Limiter::new(REDEMPTIONS_PER_ADDRESS),
            trusted_proxies: Arc::new(trusted_proxies),
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

    #[test]
    fn a_window_fills_then_resets() {
        let l = Limiter::new(Policy { max: 2, window: 60 });
        assert_eq!(l.check("k", 0), None);
        l.record("k", 0);
        l.record("k", 10);
        assert_eq!(l.check("k", 10), Some(50));
        assert_eq!(l.check("other", 10), None);
        assert_eq!(l.check("k", 60), None);
        l.record("k", 60);
        assert_eq!(l.check("k", 61), None);
        l.clear("k");
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
