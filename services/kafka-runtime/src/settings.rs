//! Typed settings from the environment. Each binary lists everything it reads in one
//! `clap` struct: a field per variable, with `env = "NAME"` and a default that works with
//! `./dev up`, the shared parts (the Kafka settings, the PostgreSQL pool) flattened in
//! from this crate. Secrets are [`secrecy::SecretString`], which `Debug` never shows.
//!
//! Values come from the environment only, never the command line (a test's harness
//! passes its own arguments). A variable that is empty counts as unset, as compose's
//! `${NAME:-}` leaves it. A value that does not parse refuses the start with a message
//! naming its variable.

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Command, CommandFactory, FromArgMatches};

/// Reads a `clap` struct from variables: implemented for every [`clap::Parser`].
pub trait FromEnv: CommandFactory + FromArgMatches + Sized {
    /// Reads the settings from the process environment.
    fn from_env() -> anyhow::Result<Self> {
        Self::from_vars(std::env::vars_os())
    }

    /// Reads the settings from `vars` (the environment, in production): clap sees each
    /// set variable as its field's `--long=value`, and reads neither the process's
    /// arguments nor its environment itself.
    fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> anyhow::Result<Self>
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let vars: HashMap<OsString, OsString> = vars
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .filter(|(_, value)| !value.to_string_lossy().trim().is_empty())
            .collect();
        let declared = Self::command();
        let mut args = vec![OsString::from(declared.get_name())];
        for arg in declared.get_arguments() {
            let (Some(name), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            if let Some(value) = vars.get(name) {
                let mut flag = OsString::from(format!("--{long}="));
                flag.push(value);
                args.push(flag);
            }
        }
        let matches = declared
            .clone()
            .mut_args(|arg| arg.env(None::<&'static str>))
            .try_get_matches_from(args)
            .map_err(|err| refusal(&err, &declared))?;
        Self::from_arg_matches(&matches).map_err(|err| refusal(&err, &declared))
    }

    /// For a binary's `main`: `--help` lists the variables it reads and exits; any other
    /// argument is refused (settings are variables, never arguments); then
    /// [`FromEnv::from_env`].
    fn from_env_or_help() -> anyhow::Result<Self> {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        match args.as_slice() {
            [] => Self::from_env(),
            [arg] if arg == "--help" || arg == "-h" => {
                print!("{}", help(&Self::command()));
                std::process::exit(0)
            }
            _ => anyhow::bail!(
                "{} takes no arguments: its settings are environment variables (--help lists them)",
                Self::command().get_name()
            ),
        }
    }
}

impl<C: clap::Parser> FromEnv for C {}

/// The message a service refuses to start with: clap's error, with the argument it names
/// replaced by its variable. A secret's value (`hide_env_values`) is not repeated.
fn refusal(err: &clap::Error, command: &Command) -> anyhow::Error {
    // clap shows an argument as `--long <VALUE>`.
    let argument = |shown: &str| {
        let long = shown.strip_prefix("--")?.split([' ', '=']).next()?;
        command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(long) && arg.get_env().is_some())
    };
    let variable = |arg: &clap::Arg| {
        arg.get_env()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    match (err.kind(), err.get(ContextKind::InvalidArg)) {
        (ErrorKind::MissingRequiredArgument, Some(ContextValue::Strings(shown))) => {
            let missing: Vec<String> = shown
                .iter()
                .filter_map(|shown| argument(shown))
                .map(|arg| format!("{} is not set", variable(arg)))
                .collect();
            if !missing.is_empty() {
                return anyhow::anyhow!("{}", missing.join("; "));
            }
        }
        (
            ErrorKind::ValueValidation | ErrorKind::InvalidValue,
            Some(ContextValue::String(shown)),
        ) => {
            if let Some(arg) = argument(shown) {
                let reason = std::error::Error::source(err)
                    .map_or_else(|| err.kind().to_string(), ToString::to_string);
                return match err.get(ContextKind::InvalidValue) {
                    Some(ContextValue::String(value)) if !arg.is_hide_env_values_set() => {
                        anyhow::anyhow!("{}={value:?} is not valid: {reason}", variable(arg))
                    }
                    _ => anyhow::anyhow!("{} is not valid: {reason}", variable(arg)),
                };
            }
        }
        _ => {}
    }
    anyhow::anyhow!("{}", err.render().to_string().trim())
}

/// What `--help` prints: each variable with its default and what it is for.
fn help(command: &Command) -> String {
    let mut text = String::new();
    if let Some(about) = command.get_about() {
        text.push_str(&format!("{about}\n\n"));
    }
    text.push_str(&format!(
        "{} takes no arguments. It reads these environment variables:\n",
        command.get_name()
    ));
    for arg in command.get_arguments() {
        let Some(name) = arg.get_env() else { continue };
        let defaults: Vec<_> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy())
            .collect();
        let default = match defaults.join(",") {
            none if none.is_empty() => "unset".to_string(),
            default => format!("default {default}"),
        };
        text.push_str(&format!("\n  {} ({default})\n", name.to_string_lossy()));
        if let Some(about) = arg.get_long_help().or(arg.get_help()) {
            let mut line = String::from("     ");
            for word in about.to_string().split_whitespace() {
                if line.len() + word.len() >= 88 {
                    text.push_str(&format!("{line}\n"));
                    line = String::from("     ");
                }
                line.push_str(&format!(" {word}"));
            }
            text.push_str(&format!("{line}\n"));
        }
    }
    text
}

/// Parses whole milliseconds.
pub fn millis(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| "expected whole milliseconds".into())
}

/// Parses whole seconds.
pub fn secs(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| "expected whole seconds".into())
}

/// Parses seconds, fractions allowed.
pub fn fractional_secs(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| "expected a number of seconds, 0 or more".into())
}

/// Parses `true`/`1` or `false`/`0`: anything else is more likely a mistake than a no.
pub fn boolean(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::{ExposeSecret, SecretString};

    use super::*;

    /// A struct as a service declares one.
    #[derive(Debug, clap::Parser)]
    struct Settings {
        /// How long to wait.
        #[arg(long, env = "WAIT_MS", default_value = "250", value_parser = millis)]
        wait: Duration,
        #[arg(long, env = "PASSWORD", hide_env_values = true)]
        password: Option<SecretString>,
        #[arg(long, env = "NAME")]
        name: String,
    }

    fn read(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        Settings::from_vars(vars.iter().copied())
    }

    #[test]
    fn variables_are_read_and_defaults_fill_the_rest() {
        let settings = read(&[("NAME", "x"), ("PASSWORD", "hunter2")]).unwrap();
        assert_eq!(settings.wait, Duration::from_millis(250));
        assert_eq!(settings.name, "x");
        assert_eq!(settings.password.unwrap().expose_secret(), "hunter2");
        let settings = read(&[("NAME", "x"), ("WAIT_MS", "10")]).unwrap();
        assert_eq!(settings.wait, Duration::from_millis(10));
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let settings = read(&[("NAME", "x"), ("WAIT_MS", ""), ("PASSWORD", " ")]).unwrap();
        assert_eq!(settings.wait, Duration::from_millis(250));
        assert!(settings.password.is_none());
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_variable() {
        let err = read(&[("NAME", "x"), ("WAIT_MS", "4s")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"WAIT_MS="4s" is not valid: expected whole milliseconds"#
        );
        let err = read(&[("WAIT_MS", "1")]).unwrap_err();
        assert_eq!(err.to_string(), "NAME is not set");
    }

    #[test]
    fn a_secret_never_shows_its_value() {
        let settings = read(&[("NAME", "x"), ("PASSWORD", "hunter2")]).unwrap();
        let printed = format!("{settings:?}");
        assert!(
            printed.contains("password") && !printed.contains("hunter2"),
            "{printed}"
        );
    }

    #[test]
    fn help_lists_every_variable_with_its_default() {
        let help = help(&Settings::command());
        assert!(
            help.contains("WAIT_MS (default 250)\n      How long to wait\n"),
            "{help}"
        );
        assert!(
            help.contains("PASSWORD (unset)") && help.contains("NAME (unset)"),
            "{help}"
        );
    }
}
