//! The AsyncAPI 3 document of the platform (`schemas/asyncapi.json`): a channel per
//! topic, each message on it as its envelope with the `data` schema of `schemas/`, and
//! an operation per service that sends or reads a topic, from [`topology`].
//!
//! Payloads refer to the JSON Schema files beside the document (`envelope.json`,
//! `<type>.json`) instead of copying them, so there is one schema per type.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::messages::reply::Reply;
use crate::messages::{all_answer_schemas, all_message_schemas, all_message_types};
use crate::topology::{self, Channel, Keyed, Party};
use crate::{Message, Retention, Topic};

/// The Kafka bindings version the document uses.
const KAFKA_BINDINGS: &str = "0.5.0";

/// The name of the message every dead-letter topic holds.
const DEAD_LETTER: &str = "deadLetter";

/// The whole document.
pub fn document() -> Value {
    let descriptions: HashMap<&str, String> = all_message_schemas()
        .into_iter()
        .map(|(kind, schema)| {
            let text = schema.get("description").and_then(Value::as_str);
            (kind, text.unwrap_or_default().to_string())
        })
        .collect();
    let versions: HashMap<&str, u32> = all_message_types().into_iter().collect();
    let queries: Vec<&str> = all_answer_schemas().iter().map(|(kind, _)| *kind).collect();

    let (mut channels, mut messages, mut operations) = (Map::new(), Map::new(), Map::new());
    messages.insert(DEAD_LETTER.into(), dead_letter());
    for channel in topology::channels() {
        let name = channel.topic.base_name();
        for keyed in &channel.messages {
            let text = &descriptions[keyed.kind];
            let answered = queries.contains(&keyed.kind);
            let message = message(keyed, versions[keyed.kind], text, answered);
            messages.insert(keyed.kind.into(), message);
        }
        for (party, kinds) in &channel.senders {
            let id = format!("{}.send.{name}", party.name());
            operations.insert(id, operation("send", *party, &channel, kinds));
        }
        for (party, kinds) in &channel.readers {
            let id = format!("{}.receive.{name}", party.name());
            operations.insert(id, operation("receive", *party, &channel, kinds));
        }
        channels.insert(name, channel_object(&channel));
    }

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Commerce platform messages",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every topic of the platform, the messages on it and who sends \
                and reads them. Each record value is an envelope (`envelope.json`) whose \
                `data` is the message type's schema (`<type>.json`); see docs/messages.md. \
                Generated from shared-events by `cargo run -p shared-events --bin gen-schemas`.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The broker `./dev` starts; elsewhere the brokers of \
                    `KAFKA_BROKERS`.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "parameters": {
                "prefix": {
                    "description": "`KAFKA_TOPIC_PREFIX`: put before every topic name, \
                        empty by default (tests use their own).",
                    "default": "",
                    "examples": ["", "staging."],
                },
            },
        },
    })
}

/// A topic as a channel: its address, purpose and retention, and its messages.
fn channel_object(channel: &Channel) -> Value {
    let name = channel.topic.base_name();
    let retention = match channel.topic.retention() {
        Retention::Long => "Kept for good.",
        Retention::Short => "Kept for an hour.",
        Retention::Compacted => "Compacted: the latest record per key is kept for good.",
    };
    let mut messages = Map::new();
    for keyed in &channel.messages {
        let reference = json!({ "$ref": format!("#/components/messages/{}", keyed.kind) });
        messages.insert(keyed.kind.into(), reference);
    }
    if matches!(channel.topic, Topic::Dlq(_)) {
        let reference = json!({ "$ref": format!("#/components/messages/{DEAD_LETTER}") });
        messages.insert(DEAD_LETTER.into(), reference);
    }
    json!({
        "address": format!("{{prefix}}{name}"),
        "title": name,
        "summary": channel.summary,
        "description": retention,
        "parameters": { "prefix": { "$ref": "#/components/parameters/prefix" } },
        "messages": messages,
    })
}

/// A party's sending or reading of some of a channel's messages. The gateway's
/// commands and queries name `gateway.replies` as where their outcome comes back.
fn operation(action: &str, party: Party, channel: &Channel, kinds: &[&str]) -> Value {
    let name = channel.topic.base_name();
    let verb = if action == "send" { "sends" } else { "reads" };
    let mut messages: Vec<Value> = kinds
        .iter()
        .map(|kind| json!({ "$ref": format!("#/channels/{name}/messages/{kind}") }))
        .collect();
    if matches!(channel.topic, Topic::Dlq(_)) {
        messages.push(json!({ "$ref": format!("#/channels/{name}/messages/{DEAD_LETTER}") }));
    }
    let mut operation = json!({
        "action": action,
        "channel": { "$ref": format!("#/channels/{name}") },
        "summary": format!("{} {verb} {name}.", party.name()),
        "messages": messages,
        "tags": [{ "name": party.name() }],
    });
    let asks = action == "send"
        && party == Party::Service(crate::Service::Gateway)
        && !matches!(channel.topic, Topic::GatewayReplies);
    if asks {
        let replies = Topic::GatewayReplies.base_name();
        operation["reply"] = json!({
            "address": {
                "description": "The topic the envelope's `replyTo` names.",
                "location": "$message.payload#/replyTo",
            },
            "channel": { "$ref": format!("#/channels/{replies}") },
            "messages": [{ "$ref": format!("#/channels/{replies}/messages/{}", Reply::TYPE) }],
        });
    }
    operation
}

/// A message type: its envelope with `type`, `version` and `data` pinned, its key, and
/// the headers the runtime adds.
fn message(keyed: &Keyed, version: u32, description: &str, answered: bool) -> Value {
    let kind = keyed.kind;
    let mut description = description.to_string();
    if answered {
        description.push_str(&format!(
            " Answered with a `{}` whose `data` is `{kind}.answer.json`.",
            Reply::TYPE
        ));
    }
    json!({
        "name": kind,
        "title": kind,
        "summary": description,
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "description": "Set by the runtime; nothing requires them.",
            "properties": {
                "type": { "type": "string", "const": kind, "description": "The envelope's `type`." },
                "id": { "type": "string", "format": "uuid", "description": "The envelope's `id`." },
                "traceparent": { "type": "string", "description": "W3C trace context." },
            },
        },
        "payload": {
            "allOf": [
                { "$ref": "envelope.json" },
                {
                    "type": "object",
                    "properties": {
                        "type": { "const": kind },
                        "version": { "const": version },
                        "data": { "$ref": format!("{kind}.json") },
                    },
                },
            ],
        },
        "bindings": {
            "kafka": {
                "key": { "type": "string", "description": keyed.key },
                "bindingVersion": KAFKA_BINDINGS,
            },
        },
    })
}

/// What a dead-letter topic holds: any record its service could not process.
fn dead_letter() -> Value {
    let header = |description: &str| json!({ "type": "string", "description": description });
    json!({
        "name": DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A record its service could not process, with its key, value and \
            headers as they came (the value may not be an envelope, or JSON at all), and \
            the reason in headers; or, with `dlq.redriven.*` headers, the marker of a \
            re-driven dead letter (docs/operations.md).",
        "headers": {
            "type": "object",
            "properties": {
                "dlq.reason": header("Why the service could not process it."),
                "dlq.source.topic": header("The topic it was read from."),
                "dlq.source.partition": header("Its partition there."),
                "dlq.source.offset": header("Its offset there."),
                "dlq.service": header("The service that dead-lettered it."),
                "dlq.redriven.partition": header("On a marker: the re-driven dead letter's partition."),
                "dlq.redriven.offset": header("On a marker: the re-driven dead letter's offset."),
                "dlq.redriven.to": header("On a marker: where it was produced again, `topic/partition@offset`."),
            },
        },
        "payload": { "description": "The record's value, unchanged." },
        "bindings": {
            "kafka": {
                "key": { "type": "string", "description": "The record's key, unchanged." },
                "bindingVersion": KAFKA_BINDINGS,
            },
        },
    })
}
