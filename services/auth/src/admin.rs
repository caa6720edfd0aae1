//! The first admin, from `ADMIN_EMAIL` and `ADMIN_PASSWORD` at start: admins cannot
//! register, so this is the only door to the role.

use kafka_runtime::postgres::enqueue;
use kafka_runtime::Outgoing;
use secrecy::{ExposeSecret, SecretString};
use shared_events::messages::auth::UserRegistered;
use shared_events::{derive_id, rules, Envelope, Role, Topic, Topics};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::Email;

/// What starting with an admin configured did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrap {
    /// The admin was created (and `auth.user_registered` queued).
    Created,
    /// An admin with this email already exists; its password is left as it is.
    AlreadyAdmin,
    /// The email belongs to a buyer or seller, who is not promoted.
    TakenByNonAdmin,
}

/// Creates the admin unless its email is already taken. The user id derives from the
/// email, so instances starting together (serialized on a lock) make one admin and one
/// event between them.
pub async fn ensure_admin(
    pool: &PgPool,
    topics: &Topics,
    email: &str,
    password: &SecretString,
) -> anyhow::Result<Bootstrap> {
    let email =
        Email::parse(email).map_err(|_| anyhow::anyhow!("ADMIN_EMAIL is not an email address"))?;
    let password = password.expose_secret().to_string();
    if let Some(problem) = rules::password_problem(&password) {
        anyhow::bail!("ADMIN_PASSWORD {problem}");
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(4207002)")
        .execute(&mut *tx)
        .await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT role FROM users WHERE lower(email) = $1")
            .bind(email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    match existing.as_deref().map(str::parse) {
        Some(Ok(Role::Admin)) => return Ok(Bootstrap::AlreadyAdmin),
        Some(_) => return Ok(Bootstrap::TakenByNonAdmin),
        None => {}
    }
    let hash =
        tokio::task::spawn_blocking(move || bcrypt::hash(password, bcrypt::DEFAULT_COST)).await??;
    let user_id = derive_id(Uuid::NAMESPACE_OID, &format!("admin#{}", email.as_str()));
    sqlx::query(
        "INSERT INTO users (user_id, email, name, role, password_hash) VALUES ($1, $2, 'Admin', $3, $4)",
    )
    .bind(user_id)
    .bind(email.as_str())
    .bind(Role::Admin.as_str())
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    let registered = UserRegistered {
        user_id,
        email: email.as_str().to_string(),
        name: "Admin".into(),
        role: Role::Admin,
    };
    let mut event = Envelope::start(registered, None);
    event.id = derive_id(user_id, "auth.user_registered");
    event.correlation_id = event.id;
    let outgoing = Outgoing::new(topics.name(Topic::AuthEvents), user_id, &event);
    enqueue(&mut tx, &[outgoing]).await?;
    tx.commit().await?;
    Ok(Bootstrap::Created)
}
