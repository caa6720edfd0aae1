//! Typed settings from the environment, each with a default that works with `./dev up`.

use std::str::FromStr;

/// Reads `name` from the environment, or `default` when it is unset or empty. A value
/// that does not parse is an error naming the variable (its value is not printed: it
/// may be a secret).
pub fn setting<T: FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("environment variable {name} has an invalid value")),
        _ => Ok(default),
    }
}
