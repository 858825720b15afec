//! Failed station authentications per source address, in fixed one-minute windows: an
//! address over its budget is refused before its credentials are checked, so guessing
//! passwords (and making the CSMS hash them) costs the guesser, not the fleet.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::Millis;

/// The window failures are counted in.
const WINDOW_MS: Millis = 60_000;

/// Addresses tracked at once; beyond it expired windows are dropped first, then all, so
/// a spread-out attack cannot grow the map without bound.
const MAX_TRACKED: usize = 65_536;

/// Counts failures per address.
#[derive(Debug)]
pub struct AuthLimiter {
    per_window: u32,
    windows: HashMap<IpAddr, (Millis, u32)>,
}

impl AuthLimiter {
    /// A limiter allowing `per_window` failures per address and minute.
    pub fn new(per_window: u32) -> Self {
        Self {
            per_window,
            windows: HashMap::new(),
        }
    }

    /// Whether `addr` has used up its failures in the current window.
    pub fn blocked(&self, addr: IpAddr, now: Millis) -> bool {
        self.windows
            .get(&addr)
            .is_some_and(|(start, count)| now - start < WINDOW_MS && *count >= self.per_window)
    }

    /// Counts one failure of `addr`.
    pub fn failed(&mut self, addr: IpAddr, now: Millis) {
        if self.windows.len() >= MAX_TRACKED && !self.windows.contains_key(&addr) {
            self.windows
                .retain(|_, (start, _)| now - *start < WINDOW_MS);
            if self.windows.len() >= MAX_TRACKED {
                self.windows.clear();
            }
        }
        let window = self.windows.entry(addr).or_insert((now, 0));
        if now - window.0 >= WINDOW_MS {
            *window = (now, 0);
        }
        window.1 = window.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_budget_until_the_window_ends() {
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let mut l = AuthLimiter::new(3);
        for t in 0..3 {
            assert!(!l.blocked(a, t));
            l.failed(a, t);
        }
        assert!(l.blocked(a, 10));
        assert!(!l.blocked(b, 10), "another address has its own budget");
        assert!(!l.blocked(a, WINDOW_MS), "a new window starts afresh");
        l.failed(a, WINDOW_MS);
        assert!(!l.blocked(a, WINDOW_MS + 1));
    }

    #[test]
    fn the_map_stays_bounded() {
        let mut l = AuthLimiter::new(1);
        for i in 0..(MAX_TRACKED as u32 + 10) {
            l.failed(IpAddr::from(i.to_be_bytes()), 0);
        }
        assert!(l.windows.len() <= MAX_TRACKED);
    }
}
