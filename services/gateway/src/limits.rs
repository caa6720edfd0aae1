//! Rate limits: login attempts per client address, failed logins per email and
//! registrations per client address. Each is a keyed [`governor`] limiter (GCRA): a
//! burst of the per-minute limit, then one more every `60 s / limit`. Counts live in
//! this gateway's memory: with N instances behind a balancer an attacker gets up to N
//! times the limit, which still turns an online password guess from millions a minute
//! into a handful.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::StateStore;
use governor::{Quota, RateLimiter};

/// How many keys a limiter holds before it drops the ones back at a full allowance.
const TIDY_ABOVE: usize = 100_000;

/// At most `per_minute` events per key, each key on its own allowance.
pub struct Limiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, Store<K>, C, NoOpMiddleware<C::Instant>>,
    store: Store<K>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter on the real clock; a limit of 0 is taken as 1.
    pub fn per_minute(limit: u32) -> Self {
        Self::with_clock(limit, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> Limiter<K, C> {
    fn with_clock(limit: u32, clock: C) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(limit).unwrap_or(NonZeroU32::MIN));
        let store = Store::default();
        Self {
            limiter: RateLimiter::new(quota, store.clone(), clock),
            store,
        }
    }

    /// Counts one event for `key`; past the limit, how long until the next is allowed.
    pub fn hit(&self, key: &K) -> Result<(), Duration> {
        if self.limiter.len() > TIDY_ABOVE {
            // Keys back at a full allowance carry no information: dropping them never
            // lets an attempt through that would have been refused.
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(key)
            .map_err(|refused| refused.wait_time_from(self.limiter.clock().now()))
    }

    /// Starts `key` over with a full allowance (an email whose owner just logged in).
    pub fn forget(&self, key: &K) {
        self.store.0.remove(key);
    }
}

/// governor's concurrent map, shared so that [`Limiter::forget`] can reach it.
struct Store<K: Hash + Eq + Clone>(Arc<DashMapStateStore<K>>);

impl<K: Hash + Eq + Clone> Default for Store<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K: Hash + Eq + Clone> Clone for Store<K> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<K: Hash + Eq + Clone> StateStore for Store<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for Store<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.0.retain_recent(drop_below)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Seconds for a `Retry-After` header: rounded up, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limiter(limit: u32) -> (Limiter<&'static str, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (Limiter::with_clock(limit, clock.clone()), clock)
    }

    #[test]
    fn a_burst_of_the_limit_then_one_more_every_minute_over_the_limit() {
        let (limiter, clock) = limiter(2);
        assert!(limiter.hit(&"a").is_ok());
        assert!(limiter.hit(&"a").is_ok());
        clock.advance(Duration::from_secs(10));
        assert_eq!(limiter.hit(&"a"), Err(Duration::from_secs(20)));
        assert!(limiter.hit(&"b").is_ok(), "keys are counted apart");
        clock.advance(Duration::from_secs(20));
        assert!(limiter.hit(&"a").is_ok());
        assert!(limiter.hit(&"a").is_err());
    }

    #[test]
    fn a_refused_event_does_not_count() {
        let (limiter, clock) = limiter(1);
        limiter.hit(&"a").unwrap();
        for _ in 0..10 {
            assert!(limiter.hit(&"a").is_err());
        }
        clock.advance(Duration::from_secs(60));
        assert!(
            limiter.hit(&"a").is_ok(),
            "refusals did not push the wait out"
        );
    }

    #[test]
    fn a_forgotten_key_starts_over_and_others_keep_their_count() {
        let (limiter, _clock) = limiter(1);
        limiter.hit(&"ada").unwrap();
        limiter.hit(&"bob").unwrap();
        limiter.forget(&"ada");
        assert!(limiter.hit(&"ada").is_ok());
        assert!(limiter.hit(&"bob").is_err());
    }

    #[test]
    fn a_limit_of_zero_is_taken_as_one() {
        let (limiter, _clock) = limiter(0);
        assert!(limiter.hit(&"a").is_ok());
        assert!(limiter.hit(&"a").is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
