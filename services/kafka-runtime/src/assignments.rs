//! The partitions service instances say they hold, read from their `/metrics`
//! (`consumer_assigned_partitions{group,topic,partition} 1`): what `./dev status` prints
//! under each instance and what `./dev scale` waits for. Parsed here, in Rust, so that
//! the script only fetches the text and passes it on.

use std::collections::{BTreeMap, BTreeSet};

/// The gauge [`crate::metrics::Metrics`] sets to 1 for each partition an instance holds.
const SERIES: &str = "consumer_assigned_partitions";

/// One partition an instance holds in one of its consumer groups.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    /// The consumer group.
    pub group: String,
    /// The topic, with its prefix.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

/// The partitions a Prometheus text exposition shows as held, sorted by group, topic and
/// partition. Lines of other series, comments and samples other than 1 are skipped, and
/// so is a sample whose labels do not parse: a status display should show what it can.
pub fn held(metrics: &str) -> Vec<Held> {
    let mut held: Vec<Held> = metrics.lines().filter_map(held_sample).collect();
    held.sort();
    held.dedup();
    held
}

/// `consumer_assigned_partitions{group="g",topic="t",partition="3"} 1` as a [`Held`].
fn held_sample(line: &str) -> Option<Held> {
    let (labels, value) = crate::metrics::sample(line, SERIES)?;
    if value != 1.0 {
        return None;
    }
    Some(Held {
        group: labels.get("group")?.clone(),
        topic: labels.get("topic")?.clone(),
        partition: labels.get("partition")?.parse().ok()?,
    })
}

/// One line per group and set of partitions: `group G: partitions 0,1,2 of t1, t2`, the
/// topics of a group that hold the same partitions named together, groups and topics in
/// name order. Expects `held` sorted, as [`held`] returns it.
pub fn describe(held: &[Held]) -> Vec<String> {
    // group → topic → partitions, each in order.
    let mut by_group: BTreeMap<&str, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for h in held {
        by_group
            .entry(&h.group)
            .or_default()
            .entry(&h.topic)
            .or_default()
            .push(h.partition);
    }
    let mut lines = Vec::new();
    for (group, topics) in by_group {
        // Each distinct partition list, in the order its first topic comes, with its topics.
        let mut lists: Vec<(Vec<i32>, Vec<&str>)> = Vec::new();
        for (topic, partitions) in topics {
            match lists.iter_mut().find(|(held, _)| *held == partitions) {
                Some((_, named)) => named.push(topic),
                None => lists.push((partitions, vec![topic])),
            }
        }
        for (partitions, topics) in lists {
            let partitions: Vec<String> = partitions.iter().map(i32::to_string).collect();
            lines.push(format!(
                "group {group}: partitions {} of {}",
                partitions.join(","),
                topics.join(", ")
            ));
        }
    }
    lines
}

/// Whether the instances, together, hold `partitions` partitions of every (group, topic)
/// any of them holds, and each instance holds some: what a scaled-down service reaches
/// once the stopped instances' partitions have moved to the others.
pub fn covered(instances: &[Vec<Held>], partitions: usize) -> bool {
    if instances.is_empty() || instances.iter().any(Vec::is_empty) {
        return false;
    }
    let mut held: BTreeMap<(&str, &str), BTreeSet<i32>> = BTreeMap::new();
    for h in instances.iter().flatten() {
        held.entry((&h.group, &h.topic))
            .or_default()
            .insert(h.partition);
    }
    held.values().all(|set| set.len() == partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = r#"# HELP consumer_assigned_partitions 1 for each partition this instance holds in its consumer group.
# TYPE consumer_assigned_partitions gauge
consumer_assigned_partitions{group="inventory",partition="1",topic="order.events"} 1
consumer_assigned_partitions{group="inventory",partition="0",topic="order.events"} 1
consumer_assigned_partitions{group="inventory",partition="0",topic="catalog.events"} 1
consumer_assigned_partitions{group="inventory",partition="1",topic="catalog.events"} 1
consumer_assigned_partitions{group="inventory",partition="2",topic="inventory.commands"} 1
consumer_assigned_partitions{group="inventory-queries",partition="4",topic="inventory.queries"} 1
consumer_assigned_partitions{group="inventory-queries",partition="5",topic="inventory.queries"} 0
messages_published_total{topic="order.events",type="order.order_placed"} 3
"#;

    fn held_in(group: &str, topic: &str, partitions: &[i32]) -> Vec<Held> {
        partitions
            .iter()
            .map(|&partition| Held {
                group: group.into(),
                topic: topic.into(),
                partition,
            })
            .collect()
    }

    #[test]
    fn only_the_partitions_shown_as_held_are_read() {
        let held = held(METRICS);
        assert_eq!(held.len(), 6);
        assert!(held.iter().all(|h| h.partition != 5));
        assert_eq!(held[0].topic, "catalog.events");
    }

    #[test]
    fn topics_holding_the_same_partitions_share_a_line() {
        assert_eq!(
            describe(&held(METRICS)),
            [
                "group inventory: partitions 0,1 of catalog.events, order.events",
                "group inventory: partitions 2 of inventory.commands",
                "group inventory-queries: partitions 4 of inventory.queries",
            ]
        );
    }

    #[test]
    fn escaped_label_values_are_unescaped() {
        let line = r#"consumer_assigned_partitions{group="a\"b\\c",topic="t",partition="7"} 1"#;
        assert_eq!(held(line), held_in("a\"b\\c", "t", &[7]));
    }

    #[test]
    fn malformed_samples_are_skipped() {
        for line in [
            "consumer_assigned_partitions 1",
            r#"consumer_assigned_partitions{group="g",topic="t"} 1"#,
            r#"consumer_assigned_partitions{group="g",topic="t",partition="x"} 1"#,
            r#"consumer_assigned_partitions{group="g,topic="t",partition="1"} 1"#,
            r#"consumer_assigned_partitions{group="g",topic="t",partition="1"}"#,
        ] {
            assert_eq!(held(line), [], "{line}");
        }
    }

    #[test]
    fn instances_cover_the_topics_when_together_they_hold_every_partition() {
        let first = [held_in("g", "a", &[0, 1]), held_in("g", "b", &[0, 1])].concat();
        let second = [held_in("g", "a", &[2]), held_in("g", "b", &[2])].concat();
        assert!(covered(&[first.clone(), second.clone()], 3));
        assert!(!covered(std::slice::from_ref(&first), 3));
        assert!(
            !covered(&[first, second, Vec::new()], 3),
            "an idle instance"
        );
        assert!(!covered(&[], 3));
    }
}
