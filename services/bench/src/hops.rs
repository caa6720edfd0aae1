//! Where the time goes: each service's `handler_duration_seconds` (from a record's
//! arrival in its partition queue to its offset being stored, so queueing, the
//! transaction and the publish wait) read from `/metrics` before and after a step.

use std::collections::BTreeMap;

/// The services and their health ports.
const SERVICES: [(&str, u16); 7] = [
    ("gateway", 8080),
    ("auth", 8081),
    ("catalog", 8082),
    ("order", 8083),
    ("inventory", 8084),
    ("payment", 8085),
    ("cart", 8086),
];

/// (service, topic) → (seconds summed, records).
pub type Totals = BTreeMap<(String, String), (f64, f64)>;

/// One hop over a step.
#[derive(Debug, Clone)]
pub struct Hop {
    /// The consuming service.
    pub service: String,
    /// The topic it read.
    pub topic: String,
    /// Records handled during the step.
    pub records: f64,
    /// Mean time per record, ms.
    pub mean_ms: f64,
}

/// Reads every service's handler totals now.
pub async fn totals(client: &reqwest::Client) -> Totals {
    let mut totals = Totals::new();
    for (service, port) in SERVICES {
        let url = format!("http://127.0.0.1:{port}/metrics");
        let Ok(response) = client.get(&url).send().await else {
            continue;
        };
        let Ok(text) = response.text().await else {
            continue;
        };
        for (topic, sum, count) in parse(&text) {
            let entry = totals.entry((service.to_string(), topic)).or_default();
            entry.0 += sum;
            entry.1 += count;
        }
    }
    totals
}

/// The per-topic sums and counts of `handler_duration_seconds` in a metrics page.
fn parse(text: &str) -> Vec<(String, f64, f64)> {
    let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in text.lines() {
        let sample = |series| kafka_runtime::metrics::sample(line, series);
        let (is_sum, (labels, value)) = match sample("handler_duration_seconds_sum") {
            Some(sum) => (true, sum),
            None => match sample("handler_duration_seconds_count") {
                Some(count) => (false, count),
                None => continue,
            },
        };
        let Some(topic) = labels.get("topic") else {
            continue;
        };
        let entry = sums.entry(topic.clone()).or_default();
        if is_sum {
            entry.0 += value;
        } else {
            entry.1 += value;
        }
    }
    sums.into_iter()
        .map(|(topic, (sum, count))| (topic, sum, count))
        .collect()
}

/// The hops that handled records between `before` and `after`.
pub fn between(before: &Totals, after: &Totals) -> Vec<Hop> {
    after
        .iter()
        .filter_map(|(key, (sum, count))| {
            let (sum0, count0) = before.get(key).copied().unwrap_or_default();
            let records = count - count0;
            (records > 0.0).then(|| Hop {
                service: key.0.clone(),
                topic: key.1.clone(),
                records,
                mean_ms: (sum - sum0) / records * 1000.0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_totals_are_read_per_topic() {
        let page = "# HELP x\nhandler_duration_seconds_sum{topic=\"order.events\",service=\"inventory\"} 1.5\n\
                    handler_duration_seconds_count{topic=\"order.events\",service=\"inventory\"} 3\n\
                    handler_duration_seconds_bucket{topic=\"order.events\",le=\"0.1\"} 1\n";
        assert_eq!(parse(page), [("order.events".to_string(), 1.5, 3.0)]);
        let before = Totals::from([(("inventory".into(), "order.events".into()), (1.0, 2.0))]);
        let after = Totals::from([(("inventory".into(), "order.events".into()), (1.5, 3.0))]);
        let hops = between(&before, &after);
        assert_eq!((hops[0].records, hops[0].mean_ms), (1.0, 500.0));
    }
}
