//! Rate limits: login attempts per client address, failed logins per email and
//! registrations per client address, each counted in a fixed window. Counts live in
//! this gateway's memory: with N instances behind a balancer an attacker gets up to N
//! times the limit, which still turns an online password guess from millions a minute
//! into a handful.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts events per key and refuses past `limit` per `window`.
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    capacity: usize,
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl RateLimiter {
    /// At most `limit` events per key per `window`; at most `capacity` keys remembered
    /// (expired windows are dropped first, then the map is cleared, which only errs on
    /// the side of letting attempts through).
    pub fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        Self {
            limit,
            window,
            capacity,
            windows: Mutex::default(),
        }
    }

    /// Counts one event for `key`; past the limit, the time until the window ends.
    pub fn hit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut windows = self.windows.lock().expect("not poisoned");
        self.make_room(&mut windows, now);
        let window = windows.entry(key.to_string()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(window.started) >= self.window {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        if window.count >= self.limit {
            return Err(self.window - now.duration_since(window.started));
        }
        window.count += 1;
        Ok(())
    }

    /// Takes back one event counted for `key` (an attempt that turned out not to count,
    /// such as a login that succeeded).
    pub fn give_back(&self, key: &str) {
        let mut windows = self.windows.lock().expect("not poisoned");
        if let Some(window) = windows.get_mut(key) {
            window.count = window.count.saturating_sub(1);
        }
    }

    /// Whether `key` is over the limit, without counting: the time until it is not.
    pub fn blocked(&self, key: &str, now: Instant) -> Option<Duration> {
        let windows = self.windows.lock().expect("not poisoned");
        let window = windows.get(key)?;
        let elapsed = now.duration_since(window.started);
        (elapsed < self.window && window.count >= self.limit).then(|| self.window - elapsed)
    }

    fn make_room(&self, windows: &mut HashMap<String, Window>, now: Instant) {
        if windows.len() < self.capacity {
            return;
        }
        windows.retain(|_, w| now.duration_since(w.started) < self.window);
        if windows.len() >= self.capacity {
            tracing::warn!(
                keys = windows.len(),
                "rate limiter full; forgetting every window"
            );
            windows.clear();
        }
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

    #[test]
    fn events_past_the_limit_are_refused_until_the_window_ends() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60), 100);
        let start = Instant::now();
        assert!(limiter.hit("a", start).is_ok());
        assert!(limiter.hit("a", start).is_ok());
        let wait = limiter
            .hit("a", start + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(limiter.hit("b", start).is_ok(), "keys are counted apart");
        assert!(limiter.hit("a", start + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn attempts_in_flight_together_are_counted_as_they_start_and_a_success_gives_one_back() {
        let limiter = RateLimiter::new(5, Duration::from_secs(60), 100);
        let now = Instant::now();
        let admitted = (0..10).filter(|_| limiter.hit("ada", now).is_ok()).count();
        assert_eq!(admitted, 5, "ten guesses at once, five let through");
        limiter.give_back("ada");
        assert!(limiter.hit("ada", now).is_ok());
        assert!(limiter.hit("ada", now).is_err());
    }

    #[test]
    fn blocked_reports_without_counting() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60), 100);
        let start = Instant::now();
        assert_eq!(limiter.blocked("a", start), None);
        limiter.hit("a", start).unwrap();
        assert_eq!(
            limiter.blocked("a", start + Duration::from_secs(1)),
            Some(Duration::from_secs(59))
        );
        assert_eq!(limiter.blocked("a", start + Duration::from_secs(60)), None);
    }

    #[test]
    fn a_full_limiter_forgets_expired_windows_first() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60), 2);
        let start = Instant::now();
        limiter.hit("old", start).unwrap();
        limiter
            .hit("recent", start + Duration::from_secs(30))
            .unwrap();
        limiter.hit("new", start + Duration::from_secs(61)).unwrap();
        assert!(limiter
            .blocked("recent", start + Duration::from_secs(61))
            .is_some());
        assert!(limiter
            .blocked("old", start + Duration::from_secs(61))
            .is_none());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
