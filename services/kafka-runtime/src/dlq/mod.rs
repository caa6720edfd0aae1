//! Dead-letter topics: what a dead letter holds, and listing and re-driving them
//! (`kafka-tool dlq-list` and `dlq-redrive`, behind `./dev dlq`).
//!
//! A dead letter is the record that failed as it was (key, value and its own headers)
//! plus `dlq.*` headers saying why and where it came from. Re-driving produces it again
//! to its source topic without the `dlq.*` headers: the service reads the original
//! message, under the same envelope id. Then it appends a marker to the DLQ itself
//! (a record with `dlq.redriven.*` headers naming the dead letter), so that a second
//! re-drive skips it. The DLQ is kept forever and so are the markers, whereas the
//! service's inbox forgets ids after `RUNTIME_RETENTION_SECS`: without the markers, a
//! re-drive a month later would apply the message a second time.
//!
//! The inbox still covers what the markers cannot: a re-drive that stopped between
//! producing a message and its marker, or two operators re-driving at once, produce the
//! message twice under one id, and the service applies it once. A re-driven message that
//! fails again is dead-lettered again, as a new dead letter that is pending in its turn.
//! A value that is not an envelope has no id the inbox could dedupe by, so it is never
//! re-driven: fix it by hand and replay it.

mod broker;

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use rdkafka::message::{Header, OwnedHeaders};
use shared_events::RawEnvelope;
use uuid::Uuid;

pub use broker::{list, read_all, redrive, Redrive, READ_TIMEOUT};

/// Why the message was dead-lettered.
pub const REASON: &str = "dlq.reason";
/// The topic it was read from (full name, with prefix).
pub const SOURCE_TOPIC: &str = "dlq.source.topic";
/// The partition it was read from.
pub const SOURCE_PARTITION: &str = "dlq.source.partition";
/// Its offset there.
pub const SOURCE_OFFSET: &str = "dlq.source.offset";
/// The service that dead-lettered it.
pub const SERVICE: &str = "dlq.service";
/// On a marker: the DLQ partition of the dead letter that was re-driven.
pub const REDRIVEN_PARTITION: &str = "dlq.redriven.partition";
/// On a marker: the DLQ offset of the dead letter that was re-driven.
pub const REDRIVEN_OFFSET: &str = "dlq.redriven.offset";
/// On a marker: where the message was produced again, `topic/partition@offset`.
pub const REDRIVEN_TO: &str = "dlq.redriven.to";

/// Whether a header is the DLQ's own rather than the original message's.
pub fn is_dlq_header(key: &str) -> bool {
    key.starts_with("dlq.")
}

/// A record as read from a DLQ topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DlqRecord {
    /// Its place in the DLQ.
    pub slot: Slot,
    /// When it was written, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub payload: Vec<u8>,
    /// Every header, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl DlqRecord {
    fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| std::str::from_utf8(v.as_deref()?).ok())
    }
}

/// A partition and offset of the DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.partition, self.offset)
    }
}

/// Where a record is in some topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Full topic name.
    pub topic: String,
    /// Partition and offset.
    pub slot: Slot,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.slot)
    }
}

/// A message a service could not process.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The record as read from the DLQ.
    pub record: DlqRecord,
    /// `dlq.reason`.
    pub reason: String,
    /// Where it was read from, when the headers say.
    pub source: Option<Position>,
    /// Its envelope id and `type`, when the value is an envelope.
    pub envelope: Option<(Uuid, String)>,
}

impl DeadLetter {
    /// When it was dead-lettered.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.record.timestamp_ms?)
    }

    /// The envelope id, when the value is an envelope.
    pub fn id(&self) -> Option<Uuid> {
        self.envelope.as_ref().map(|(id, _)| *id)
    }

    /// The original message's headers: everything but the DLQ's own.
    pub fn original_headers(&self) -> OwnedHeaders {
        let kept = self
            .record
            .headers
            .iter()
            .filter(|(k, _)| !is_dlq_header(k));
        kept.fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: value.as_deref(),
            })
        })
    }
}

/// What a DLQ record is.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A message that failed.
    DeadLetter(DeadLetter),
    /// A note that the dead letter at this slot was produced again, and where to.
    Redriven {
        /// The dead letter's slot.
        dead_letter: Slot,
        /// Where it went, as written in the marker.
        to: String,
    },
}

impl Entry {
    /// Reads a DLQ record: a marker when it has `dlq.redriven.*` headers, else a dead
    /// letter.
    pub fn parse(record: DlqRecord) -> Self {
        let number = |key| record.header(key).and_then(|v| v.parse().ok());
        if let (Some(partition), Some(offset)) =
            (number(REDRIVEN_PARTITION), number(REDRIVEN_OFFSET))
        {
            return Entry::Redriven {
                dead_letter: Slot {
                    partition: partition as i32,
                    offset,
                },
                to: record.header(REDRIVEN_TO).unwrap_or("?").to_string(),
            };
        }
        let source = match (
            record.header(SOURCE_TOPIC),
            number(SOURCE_PARTITION),
            number(SOURCE_OFFSET),
        ) {
            (Some(topic), Some(partition), Some(offset)) => Some(Position {
                topic: topic.to_string(),
                slot: Slot {
                    partition: partition as i32,
                    offset,
                },
            }),
            _ => None,
        };
        let envelope = RawEnvelope::parse(&record.payload)
            .ok()
            .map(|envelope| (envelope.id, envelope.kind));
        Entry::DeadLetter(DeadLetter {
            reason: record
                .header(REASON)
                .unwrap_or("(no reason given)")
                .to_string(),
            source,
            envelope,
            record,
        })
    }
}

/// Where a dead letter stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not re-driven yet: a re-drive produces it again.
    Pending,
    /// Re-driven already, to this position.
    Redriven(String),
    /// The value is not an envelope: no id to dedupe by, so it is never re-driven.
    NotEnvelope,
    /// The headers do not say where it came from.
    NoSource,
}

impl Status {
    /// One word for the listing.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Redriven(_) => "redriven",
            Status::NotEnvelope => "not-envelope",
            Status::NoSource => "no-source",
        }
    }
}

/// A dead letter and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// The dead letter.
    pub dead_letter: DeadLetter,
    /// Its status.
    pub status: Status,
}

/// One line per dead letter, the reason last because it has spaces:
/// `<time> <status> id=<id> type=<type> source=<topic>/<p>@<o> dlq=<p>@<o> [redrivenTo=…] reason=<reason>`.
impl fmt::Display for Listed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letter = &self.dead_letter;
        let time = letter.time().map_or_else(
            || "-".to_string(),
            |t| t.to_rfc3339_opts(SecondsFormat::Millis, true),
        );
        let (id, kind) = match &letter.envelope {
            Some((id, kind)) => (id.to_string(), kind.as_str()),
            None => ("-".to_string(), "-"),
        };
        let source = letter
            .source
            .as_ref()
            .map_or_else(|| "-".to_string(), Position::to_string);
        write!(
            f,
            "{time} {} id={id} type={kind} source={source} dlq={}",
            self.status.word(),
            letter.record.slot
        )?;
        if let Status::Redriven(to) = &self.status {
            write!(f, " redrivenTo={to}")?;
        }
        // One line however the reason was written.
        let reason = letter
            .reason
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        write!(f, " reason={reason}")
    }
}

/// The dead letters of a DLQ in the order they were read, each with its status.
pub fn listing(entries: Vec<Entry>) -> Vec<Listed> {
    let mut redriven: HashMap<Slot, String> = HashMap::new();
    let mut dead_letters = Vec::new();
    for entry in entries {
        match entry {
            Entry::Redriven { dead_letter, to } => {
                redriven.insert(dead_letter, to);
            }
            Entry::DeadLetter(letter) => dead_letters.push(letter),
        }
    }
    dead_letters
        .into_iter()
        .map(|letter| {
            let status = if letter.envelope.is_none() {
                Status::NotEnvelope
            } else if letter.source.is_none() {
                Status::NoSource
            } else if let Some(to) = redriven.remove(&letter.record.slot) {
                Status::Redriven(to)
            } else {
                Status::Pending
            };
            Listed {
                dead_letter: letter,
                status,
            }
        })
        .collect()
}

/// What a re-drive will do.
#[derive(Debug, Default, PartialEq)]
pub struct Plan<'a> {
    /// One message per envelope id: the latest pending dead letter with it, and every
    /// pending dead letter it settles (a message dead-lettered twice is sent once).
    pub send: Vec<(&'a DeadLetter, Vec<Slot>)>,
    /// Selected dead letters that were re-driven already.
    pub already: Vec<&'a Listed>,
    /// Selected dead letters that cannot be re-driven.
    pub cannot: Vec<&'a Listed>,
}

/// Chooses what to re-drive: every dead letter, or those with the envelope id `only`.
pub fn plan(listed: &[Listed], only: Option<Uuid>) -> Plan<'_> {
    let mut plan = Plan::default();
    let mut by_id: HashMap<Uuid, usize> = HashMap::new();
    let selected = listed
        .iter()
        .filter(|l| only.is_none() || l.dead_letter.id() == only);
    for entry in selected {
        match (&entry.status, entry.dead_letter.id()) {
            (Status::Pending, Some(id)) => {
                let slot = entry.dead_letter.record.slot;
                match by_id.get(&id) {
                    Some(&index) => {
                        let (latest, slots) = &mut plan.send[index];
                        *latest = &entry.dead_letter;
                        slots.push(slot);
                    }
                    None => {
                        by_id.insert(id, plan.send.len());
                        plan.send.push((&entry.dead_letter, vec![slot]));
                    }
                }
            }
            (Status::Redriven(_), _) => plan.already.push(entry),
            _ => plan.cannot.push(entry),
        }
    }
    plan
}

/// The marker's value: the same facts as its headers, readable in `./dev tail`.
pub fn marker_value(id: Uuid, dead_letter: Slot, to: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "redriven": { "id": id, "dlqPartition": dead_letter.partition, "dlqOffset": dead_letter.offset, "to": to }
    }))
    .expect("JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;

    #[test]
    fn the_asyncapi_document_names_every_dlq_header() {
        let document = shared_events::asyncapi::document();
        let named = &document["components"]["messages"]["deadLetter"]["headers"]["properties"];
        for header in [
            REASON,
            SOURCE_TOPIC,
            SOURCE_PARTITION,
            SOURCE_OFFSET,
            SERVICE,
            REDRIVEN_PARTITION,
            REDRIVEN_OFFSET,
            REDRIVEN_TO,
        ] {
            assert!(
                named.get(header).is_some(),
                "{header} is not in asyncapi.json"
            );
        }
    }

    fn record(partition: i32, offset: i64, payload: &[u8], headers: &[(&str, &str)]) -> DlqRecord {
        DlqRecord {
            slot: Slot { partition, offset },
            timestamp_ms: Some(1_700_000_000_000 + offset),
            key: Some(b"k".to_vec()),
            payload: payload.to_vec(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.as_bytes().to_vec())))
                .collect(),
        }
    }

    fn envelope(id: Uuid) -> Vec<u8> {
        format!(
            r#"{{"id":"{id}","type":"test.probe","version":1,"occurredAt":"2024-01-01T00:00:00Z","correlationId":"{id}","data":{{"n":1}}}}"#
        )
        .into_bytes()
    }

    fn dead(partition: i32, offset: i64, id: Uuid, source_offset: i64) -> DlqRecord {
        record(
            partition,
            offset,
            &envelope(id),
            &[
                (
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                (REASON, "refused\non purpose"),
                (SOURCE_TOPIC, "t.probe.commands"),
                (SOURCE_PARTITION, "2"),
                (SOURCE_OFFSET, &source_offset.to_string()),
                (SERVICE, "probe"),
            ],
        )
    }

    fn marker(partition: i32, offset: i64, of: Slot) -> DlqRecord {
        record(
            partition,
            offset,
            b"{}",
            &[
                (REDRIVEN_PARTITION, &of.partition.to_string()),
                (REDRIVEN_OFFSET, &of.offset.to_string()),
                (REDRIVEN_TO, "t.probe.commands/2@9"),
            ],
        )
    }

    fn listed(records: Vec<DlqRecord>) -> Vec<Listed> {
        listing(records.into_iter().map(Entry::parse).collect())
    }

    #[test]
    fn a_dead_letter_reads_its_reason_source_and_envelope_and_keeps_only_the_original_headers() {
        let id = Uuid::new_v4();
        let Entry::DeadLetter(letter) = Entry::parse(dead(0, 3, id, 41)) else {
            panic!("a dead letter");
        };
        assert_eq!(letter.reason, "refused\non purpose");
        assert_eq!(
            letter.source.as_ref().map(ToString::to_string).as_deref(),
            Some("t.probe.commands/2@41")
        );
        assert_eq!(letter.envelope, Some((id, "test.probe".to_string())));
        let original = letter.original_headers();
        assert_eq!(original.count(), 1);
        assert_eq!(original.get(0).key, "traceparent");
    }

    #[test]
    fn a_listing_line_names_status_id_type_source_and_reason_on_one_line() {
        let id = Uuid::new_v4();
        let lines = listed(vec![dead(0, 3, id, 41)]);
        assert_eq!(
            lines[0].to_string(),
            format!("2023-11-14T22:13:20.003Z pending id={id} type=test.probe source=t.probe.commands/2@41 dlq=0@3 reason=refused on purpose")
        );
        let not_envelope = listed(vec![record(
            1,
            0,
            b"not json",
            &[(REASON, "malformed envelope")],
        )]);
        assert_eq!(not_envelope[0].status, Status::NotEnvelope);
        assert!(not_envelope[0]
            .to_string()
            .ends_with("not-envelope id=- type=- source=- dlq=1@0 reason=malformed envelope"));
    }

    #[test]
    fn a_marker_makes_its_dead_letter_redriven_and_a_later_dead_letter_of_the_same_id_pending() {
        let id = Uuid::new_v4();
        let first = Slot {
            partition: 0,
            offset: 3,
        };
        let lines = listed(vec![
            dead(0, 3, id, 41),
            marker(0, 4, first),
            dead(0, 5, id, 9),
        ]);
        assert_eq!(lines.len(), 2, "markers are not listed");
        assert_eq!(
            lines[0].status,
            Status::Redriven("t.probe.commands/2@9".into())
        );
        assert!(lines[0]
            .to_string()
            .contains(" redrivenTo=t.probe.commands/2@9 "));
        assert_eq!(lines[1].status, Status::Pending);
    }

    #[test]
    fn a_plan_sends_each_pending_id_once_and_skips_what_was_redriven_or_cannot_be() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let lines = listed(vec![
            dead(0, 0, a, 1),
            dead(0, 1, a, 1), // dead-lettered twice (redelivered before its commit)
            dead(1, 0, b, 2),
            marker(
                1,
                1,
                Slot {
                    partition: 1,
                    offset: 0,
                },
            ),
            record(2, 0, b"not json", &[(REASON, "malformed envelope")]),
        ]);
        let all = plan(&lines, None);
        assert_eq!(all.send.len(), 1);
        assert_eq!(all.send[0].0.id(), Some(a));
        assert_eq!(
            all.send[0].0.record.slot,
            Slot {
                partition: 0,
                offset: 1
            }
        );
        assert_eq!(
            all.send[0].1,
            vec![
                Slot {
                    partition: 0,
                    offset: 0
                },
                Slot {
                    partition: 0,
                    offset: 1
                }
            ]
        );
        assert_eq!(all.already.len(), 1);
        assert_eq!(all.cannot.len(), 1);

        let only_b = plan(&lines, Some(b));
        assert!(only_b.send.is_empty());
        assert_eq!(only_b.already.len(), 1);
        assert!(only_b.cannot.is_empty());
    }

    #[test]
    fn a_marker_value_is_json_naming_the_dead_letter_and_where_it_went() {
        let id = Uuid::new_v4();
        let value: serde_json::Value = serde_json::from_slice(&marker_value(
            id,
            Slot {
                partition: 1,
                offset: 7,
            },
            "t.x/0@3",
        ))
        .expect("JSON");
        assert_eq!(value["redriven"]["id"], id.to_string());
        assert_eq!(value["redriven"]["dlqOffset"], 7);
        assert_eq!(value["redriven"]["to"], "t.x/0@3");
    }
}
