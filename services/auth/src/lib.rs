//! The auth service: users, passwords and tokens.
//!
//! It consumes `auth.commands` through the shared runtime and keeps users in its own
//! PostgreSQL database: `register_user` stores a user (email unique, compared
//! case-insensitively) and emits `auth.user_registered`, or answers `email_taken`. It
//! answers `auth.queries`: `login` checks the password against its bcrypt hash and
//! answers a token signed with auth's Ed25519 key, and `get_user` answers a profile.
//! The key is generated at first start, kept in the database, and its public half is
//! published on `auth.keys` for the gateways. The first admin comes from `ADMIN_EMAIL`
//! and `ADMIN_PASSWORD`. Health, readiness and metrics are on port 8081.

pub mod admin;
pub mod domain;
pub mod handler;
pub mod keys;
pub mod queries;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use kafka_runtime::postgres::{self, PgProcessor, ServiceProcessor};
use kafka_runtime::retry::Backoff;
use kafka_runtime::settings::secs;
use kafka_runtime::{KafkaConfig, Publisher, Service};
use secrecy::SecretString;
use shared_events::Topics;
use tokio_util::sync::CancellationToken;

/// Everything auth reads from its environment (`auth --help` lists it).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "auth", about)]
pub struct Config {
    /// Where it serves health, readiness and metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8081")]
    pub http_addr: SocketAddr,
    /// Its PostgreSQL database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://commerce:commerce@127.0.0.1:5432/commerce_auth",
        hide_env_values = true
    )]
    pub database_url: SecretString,
    /// Its pool.
    #[command(flatten)]
    pub postgres: postgres::Pool,
    /// The broker.
    #[command(flatten)]
    pub kafka: KafkaConfig,
    /// How long a token is valid, in seconds.
    #[arg(long, env = "TOKEN_TTL_SECS", default_value = "3600", value_parser = secs)]
    pub token_ttl: Duration,
    /// The first admin's email; no admin is made when unset.
    #[arg(long, env = "ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// The first admin's password, used only when the admin is made.
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<SecretString>,
}

/// Auth's tables.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

/// Brings auth's tables up to date.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATIONS.run(pool).await
}

/// Auth's handler applying `auth.commands` in transactions on `pool`.
pub fn processor(pool: sqlx::PgPool, topics: Topics) -> ServiceProcessor<handler::AuthHandler> {
    PgProcessor::handling(pool, topics, handler::AuthHandler)
}

/// Connects to the database (waiting while it is away), migrates it, makes sure there
/// is a signing key and the configured admin, then consumes `auth.commands`, answers
/// `auth.queries` and publishes the public keys until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let pool = config
        .postgres
        .open(&config.database_url, &MIGRATIONS, &shutdown)
        .await?;
    let old_key_ids = keys::upgrade_key_ids(&pool).await?;
    let key = Arc::new(keys::load_or_create(&pool).await?);
    match (&config.admin_email, &config.admin_password) {
        (Some(email), Some(password)) => {
            let outcome = admin::ensure_admin(&pool, service.topics(), email, password).await?;
            tracing::info!(?outcome, "admin from ADMIN_EMAIL");
        }
        (None, None) => {}
        _ => tracing::warn!("ADMIN_EMAIL and ADMIN_PASSWORD go together; no admin made"),
    }
    let published = keys::published_keys(&pool).await?;
    let mut withdrawn = keys::revoked_kids(&pool).await?;
    withdrawn.extend(old_key_ids);
    let (publisher, topics) = (service.publisher().clone(), service.topics().clone());
    service.spawn(publish_keys(
        publisher, topics, published, withdrawn, shutdown,
    ));
    service.consume(processor(pool.clone(), service.topics().clone()))?;
    service.answer(queries::AuthQueries::new(pool, key, config.token_ttl).await?)?;
    service.run(Router::new()).await
}

/// Withdraws revoked and superseded key ids and publishes the public keys, retrying
/// while the broker is away.
async fn publish_keys(
    publisher: Publisher,
    topics: Topics,
    published: Vec<shared_events::messages::auth::SigningKeyPublished>,
    withdrawn: Vec<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        match keys::publish(&publisher, &topics, published.clone(), &withdrawn).await {
            Ok(()) => {
                tracing::info!(
                    keys = published.len(),
                    withdrawn = withdrawn.len(),
                    "public keys published on auth.keys"
                );
                return Ok(());
            }
            Err(err) => tracing::warn!(
                error = format!("{err:#}"),
                "could not publish the public keys, retrying"
            ),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use kafka_runtime::settings::FromEnv;
    use secrecy::ExposeSecret;

    use super::Config;

    #[test]
    fn secrets_are_read_but_never_printed() {
        let config = Config::from_vars([
            (
                "DATABASE_URL",
                "postgres://auth:s3cret-db@db:5432/commerce_auth",
            ),
            ("ADMIN_EMAIL", "admin@example.com"),
            ("ADMIN_PASSWORD", "hunter2-admin"),
        ])
        .unwrap();
        assert_eq!(
            config.admin_password.as_ref().map(|p| p.expose_secret()),
            Some("hunter2-admin")
        );
        let printed = format!("{config:?}");
        assert!(printed.contains("admin@example.com"), "{printed}");
        for secret in ["s3cret-db", "hunter2-admin"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_variable() {
        let err = Config::from_vars([("TOKEN_TTL_SECS", "1h")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"TOKEN_TTL_SECS="1h" is not valid: expected whole seconds"#
        );
    }
}
