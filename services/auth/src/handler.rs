//! What auth does with each message on `auth.commands`.

use kafka_runtime::{postgres::PgHandler, HandlerError, Incoming, Outbox};
use shared_events::messages::auth::{RegisterUser, UserRegistered};
use shared_events::messages::reply::{CommandOutcome, Reply};
use shared_events::{Envelope, Message, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{self, NewUser};

/// Applies auth's commands.
pub struct AuthHandler;

impl PgHandler for AuthHandler {
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        match message.envelope.kind.as_str() {
            RegisterUser::TYPE => register(message, tx, outbox).await,
            _ => Err(message.unknown_type()),
        }
    }
}

/// Stores the user and announces it, or answers `email_taken`. A command whose user
/// already exists (same userId and email) succeeds again without a second event.
async fn register(
    message: &Incoming,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let user = domain::new_user(message.data::<RegisterUser>()?)
        .map_err(|invalid| HandlerError::Rejected(invalid.to_string()))?;
    let correlation_id = message.envelope.correlation_id;
    let inserted = sqlx::query(
        "INSERT INTO users (user_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(user.user_id)
    .bind(user.email.as_str())
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(&user.password_hash)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        let event = Envelope::caused_by(&message.envelope, registered(&user));
        outbox.send(Topic::AuthEvents, user.user_id, &event);
        outbox.reply(
            &message.envelope,
            Reply::done(
                correlation_id,
                &CommandOutcome::User {
                    user_id: user.user_id,
                },
            ),
        );
        return Ok(());
    }
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM users WHERE lower(email) = $1")
            .bind(user.email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let reply = if owner == Some(user.user_id) {
        Reply::done(
            correlation_id,
            &CommandOutcome::User {
                user_id: user.user_id,
            },
        )
    } else {
        Reply::failure(
            correlation_id,
            "email_taken",
            "an account with this email already exists",
        )
    };
    outbox.reply(&message.envelope, reply);
    Ok(())
}

fn registered(user: &NewUser) -> UserRegistered {
    UserRegistered {
        user_id: user.user_id,
        email: user.email.as_str().to_string(),
        name: user.name.clone(),
        role: user.role,
    }
}
