//! What auth does with each message on `auth.commands`.

use kafka_runtime::{HandlerError, Handlers, Handles, Incoming, Outbox};
use shared_events::messages::auth::{RegisterUser, UserRegistered};
use shared_events::messages::reply::{CommandOutcome, ReplyCode};
use shared_events::{Envelope, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{self, NewUser};

/// Applies auth's commands.
pub struct AuthHandler;

impl Handles<PgConnection> for AuthHandler {
    fn handlers() -> Handlers<Self, PgConnection> {
        Handlers::new().on(Topic::AuthCommands, register)
    }
}

/// Stores the user and announces it, or answers `email_taken`. A command whose user
/// already exists (same userId and email) succeeds again without a second event.
async fn register(
    _: &AuthHandler,
    message: &Incoming,
    command: RegisterUser,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let user =
        domain::new_user(command).map_err(|invalid| HandlerError::Rejected(invalid.to_string()))?;
    let registered_user = CommandOutcome::User {
        user_id: user.user_id,
    };
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
        outbox.done(&message.envelope, registered_user);
        return Ok(());
    }
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM users WHERE lower(email) = $1")
            .bind(user.email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    if owner == Some(user.user_id) {
        outbox.done(&message.envelope, registered_user);
    } else {
        let text = "an account with this email already exists";
        outbox.refuse(&message.envelope, ReplyCode::EmailTaken, text);
    }
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
