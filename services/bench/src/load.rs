//! Open-loop load: requests start on a fixed schedule whatever the answers do, and each
//! latency is measured from the moment its request was due, so a slow system cannot
//! hide its queueing (no coordinated omission).

use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;

/// One request of a run.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When it was due.
    pub due: Instant,
    /// When its answer came.
    pub answered: Instant,
    /// Its HTTP status (0 when it failed without one).
    pub status: u16,
    /// What the answer named (an order id), if anything.
    pub id: Option<String>,
}

/// Sends `rate` requests a second for `duration`, each made by `request(n)`.
pub async fn open_loop<F, Fut>(rate: f64, duration: Duration, request: F) -> Vec<Sample>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = (u16, Option<String>)> + Send + 'static,
{
    let count = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let start = Instant::now() + Duration::from_millis(20);
    let mut running = JoinSet::new();
    for n in 0..count {
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let sending = request(n);
        running.spawn(async move {
            let (status, id) = sending.await;
            Sample {
                due,
                answered: Instant::now(),
                status,
                id,
            }
        });
    }
    let mut samples = Vec::with_capacity(count as usize);
    while let Some(done) = running.join_next().await {
        if let Ok(sample) = done {
            samples.push(sample);
        }
    }
    samples
}

/// A latency distribution in microseconds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds")
}

/// Records `latency` into `histogram`, clamped to its range.
pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = (latency.as_micros() as u64).clamp(1, 120_000_000);
    histogram.record(micros).expect("in range");
}

/// p50, p99 and max of a histogram, in milliseconds.
pub fn percentiles(histogram: &Histogram<u64>) -> (f64, f64, f64) {
    if histogram.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    (
        ms(histogram.value_at_quantile(0.50)),
        ms(histogram.value_at_quantile(0.99)),
        ms(histogram.max()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_start_on_schedule_even_when_answers_are_slow() {
        let started = Instant::now();
        let samples = open_loop(100.0, Duration::from_millis(200), |_| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            (202, None)
        })
        .await;
        assert_eq!(samples.len(), 20);
        let last_due = samples.iter().map(|s| s.due).max().unwrap();
        assert!(
            last_due - started < Duration::from_millis(300),
            "the schedule did not wait for answers"
        );
        assert!(samples
            .iter()
            .all(|s| s.answered - s.due >= Duration::from_millis(300)));
    }

    #[test]
    fn percentiles_are_in_milliseconds() {
        let mut h = histogram();
        for ms in 1..=100 {
            record(&mut h, Duration::from_millis(ms));
        }
        let (p50, p99, max) = percentiles(&h);
        assert!((49.0..=51.0).contains(&p50) && (98.0..=100.0).contains(&p99) && max >= 99.9);
    }
}
