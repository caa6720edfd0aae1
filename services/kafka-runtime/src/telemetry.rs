//! JSON logs and W3C trace context carried in Kafka headers.

use std::fmt;

use rand::Rng;
use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber (`RUST_LOG`, default `info`). Each line carries the
/// fields of every span it is in (`spans`: the service, then the message or request).
/// Safe to call twice.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_env_filter(filter)
        .try_init();
}

/// A W3C `traceparent`: version 00, trace id, parent span id, sampled flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: u128,
    span_id: u64,
}

impl TraceParent {
    /// A new trace.
    pub fn root() -> Self {
        let mut rng = rand::rng();
        Self {
            trace_id: rng.random::<u128>().max(1),
            span_id: rng.random::<u64>().max(1),
        }
    }

    /// Parses a header value; `None` when it is not a valid version-00 traceparent.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace, span, _flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        // W3C Trace Context: lower-case hex digits only, which `from_str_radix` alone
        // would not hold to (it takes upper case and a leading `+`).
        let lower_hex = |part: &str, len: usize| {
            part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if version != "00"
            || !lower_hex(trace, 32)
            || !lower_hex(span, 16)
            || parts.next().is_some()
        {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|t| *t != 0)?;
        let span_id = u64::from_str_radix(span, 16).ok().filter(|s| *s != 0)?;
        Some(Self { trace_id, span_id })
    }

    /// The same trace with a new span: what a message caused by this one carries.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id,
            span_id: rand::rng().random::<u64>().max(1),
        }
    }

    /// The trace id as 32 hex digits, for logs.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{:032x}-{:016x}-01", self.trace_id, self.span_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_survives_printing_and_parsing() {
        let trace = TraceParent::root();
        assert_eq!(TraceParent::parse(&trace.to_string()), Some(trace));
    }

    #[test]
    fn a_child_keeps_the_trace_and_changes_the_span() {
        let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        let child = parent.child();
        assert_eq!(child.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(child, parent);
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-xyz-00-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }
}

/// What holds for every header value, not only the examples above: a traceparent comes
/// from whoever produced the record, so parsing must accept every well-formed one and
/// nothing else, and never panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::TraceParent;

    proptest! {
        #[test]
        fn every_well_formed_traceparent_parses_to_its_ids(
            trace_id in 1..=u128::MAX,
            span_id in 1..=u64::MAX,
            flags in any::<u8>(),
            padding in "[ \t]{0,2}",
        ) {
            let value = format!("00-{trace_id:032x}-{span_id:016x}-{flags:02x}");
            let parsed = TraceParent::parse(&format!("{padding}{value}{padding}"));
            prop_assert_eq!(parsed, Some(TraceParent { trace_id, span_id }));
        }

        #[test]
        fn what_parses_prints_back_the_same(value in any::<String>()) {
            if let Some(parsed) = TraceParent::parse(&value) {
                prop_assert_eq!(TraceParent::parse(&parsed.to_string()), Some(parsed));
            }
        }

        #[test]
        fn near_misses_are_refused(
            version in "[0-9a-f]{2}".prop_filter("not version 00", |v| v != "00"),
            trace in "[0-9a-f]{32}",
            span in "[0-9a-f]{16}",
            cut in 1_usize..16,
        ) {
            prop_assert_eq!(TraceParent::parse(&format!("{version}-{trace}-{span}-01")), None);
            prop_assert_eq!(TraceParent::parse(&format!("00-{}-{span}-01", &trace[cut..])), None);
            prop_assert_eq!(TraceParent::parse(&format!("00-{trace}-{}-01", &span[cut..])), None);
            prop_assert_eq!(TraceParent::parse(&format!("00-{trace}-{span}-01-00")), None);
            prop_assert_eq!(TraceParent::parse(&format!("00-{trace}-{span}")), None);
            prop_assert_eq!(TraceParent::parse(&format!("00-{:032x}-{span}-01", 0)), None);
            prop_assert_eq!(TraceParent::parse(&format!("00-{trace}-{:016x}-01", 0)), None);
            if trace.bytes().any(|b| b.is_ascii_alphabetic()) {
                let upper = format!("00-{}-{span}-01", trace.to_uppercase());
                prop_assert_eq!(TraceParent::parse(&upper), None);
            }
            prop_assert_eq!(TraceParent::parse(&format!("00-+{}-{span}-01", &trace[1..])), None);
        }

        #[test]
        fn a_child_keeps_the_trace_of_any_parent(trace_id in 1..=u128::MAX, span_id in 1..=u64::MAX) {
            let parent = TraceParent { trace_id, span_id };
            let child = parent.child();
            prop_assert_eq!(child.trace_id(), parent.trace_id());
            prop_assert_ne!(child.span_id, 0);
        }
    }
}
