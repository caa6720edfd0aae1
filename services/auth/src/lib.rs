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

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use kafka_runtime::postgres::{Database, PgProcessor};
use kafka_runtime::retry::Backoff;
use kafka_runtime::settings::{secret, setting, Secret};
use kafka_runtime::{Publisher, Service};
use shared_events::topics::Service as Name;
use shared_events::{Topic, Topics};
use tokio_util::sync::CancellationToken;

/// The service's settings, besides the runtime's (Kafka, `HTTP_ADDR`).
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (default the `commerce_auth` database on this machine) and
    /// `DATABASE_MAX_CONNECTIONS`.
    pub database: Database,
    /// `TOKEN_TTL_SECS`: how long a token is valid, default 3600.
    pub token_ttl: Duration,
    /// `ADMIN_EMAIL`: the first admin's email; no admin is made when unset.
    pub admin_email: Option<String>,
    /// `ADMIN_PASSWORD`: the first admin's password, used only when the admin is made.
    pub admin_password: Option<Secret>,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            database: Database::from_env(Name::Auth)?,
            token_ttl: Duration::from_secs(setting("TOKEN_TTL_SECS", 3600)?),
            admin_email: Some(setting("ADMIN_EMAIL", String::new())?).filter(|e| !e.is_empty()),
            admin_password: secret("ADMIN_PASSWORD"),
        })
    }
}

/// Auth's tables.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

/// Brings auth's tables up to date.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATIONS.run(pool).await
}

/// Auth's handler applying `auth.commands` in transactions on `pool`.
pub fn processor(pool: sqlx::PgPool, topics: Topics) -> PgProcessor<handler::AuthHandler> {
    PgProcessor::new(pool, topics, handler::AuthHandler)
}

/// Connects to the database (waiting while it is away), migrates it, makes sure there
/// is a signing key and the configured admin, then consumes `auth.commands`, answers
/// `auth.queries` and publishes the public keys until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let pool = config.database.open(&MIGRATIONS, &shutdown).await?;
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
    service.consume(
        &[Topic::AuthCommands],
        processor(pool.clone(), service.topics().clone()),
    );
    let queries = queries::AuthQueries::new(pool, key, config.token_ttl).await?;
    service.answer(&[Topic::AuthQueries], queries);
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
