//! What auth answers on `auth.queries`: login and the signed-in user's profile.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kafka_runtime::query::QueryHandler;
use kafka_runtime::{Answers, HandlerError, Incoming, QueryError};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::auth::{Claims, GetUser, Login, Session, UserProfile};
use shared_events::messages::reply::ReplyCode;
use shared_events::{Role, Topic};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::Email;
use crate::keys::SigningKey;

/// Answers auth's queries.
pub struct AuthQueries {
    pool: PgPool,
    key: Arc<SigningKey>,
    token_ttl: Duration,
    /// A hash of a random password, checked when the email is unknown so that an
    /// unknown email takes as long to refuse as a wrong password.
    decoy_hash: String,
}

impl AuthQueries {
    /// Signs tokens with `key`, valid for `token_ttl`. Hashing the decoy takes as long
    /// as a login (cost 12, the gateway's default).
    pub async fn new(
        pool: PgPool,
        key: Arc<SigningKey>,
        token_ttl: Duration,
    ) -> anyhow::Result<Self> {
        let decoy = Uuid::new_v4().to_string();
        let decoy_hash =
            tokio::task::spawn_blocking(move || bcrypt::hash(decoy, bcrypt::DEFAULT_COST))
                .await??;
        Ok(Self {
            pool,
            key,
            token_ttl,
            decoy_hash,
        })
    }

    async fn login(&self, _: &Incoming, login: Login) -> Result<Session, QueryError> {
        let user = match Email::parse(&login.email) {
            Ok(email) => self.find(UserBy::Email(email.as_str())).await?,
            Err(_) => None,
        };
        let hash = user
            .as_ref()
            .map_or_else(|| self.decoy_hash.clone(), |u| u.password_hash.clone());
        let password = login.password;
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .map_err(|err| HandlerError::Transient(err.into()))?
            .unwrap_or(false);
        let Some(user) = user.filter(|_| matches) else {
            return Err(QueryError::refused(
                ReplyCode::InvalidCredentials,
                "the email or password is wrong",
            ));
        };
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.user_id,
            role: user.role,
            iss: Claims::ISSUER.into(),
            aud: Claims::AUDIENCE.into(),
            iat: now,
            exp: now + self.token_ttl.as_secs() as i64,
        };
        let token = self
            .key
            .sign(&claims)
            .map_err(|err| HandlerError::Transient(err.into()))?;
        tracing::info!(user_id = %user.user_id, "login succeeded");
        Ok(Session {
            token,
            token_type: "Bearer".into(),
            expires_in: self.token_ttl.as_secs(),
            user: user.profile(),
        })
    }

    async fn get_user(&self, query: &Incoming, wanted: GetUser) -> Result<UserProfile, QueryError> {
        let allowed = may_act_on(query.envelope.actor.as_ref(), Owner::User(wanted.user_id));
        let user = if allowed {
            self.find(UserBy::Id(wanted.user_id)).await?
        } else {
            None
        };
        user.map(|user| user.profile())
            .ok_or_else(|| QueryError::refused(ReplyCode::NotFound, "no such user"))
    }

    async fn find(&self, by: UserBy<'_>) -> Result<Option<StoredUser>, HandlerError> {
        macro_rules! select_user {
            ($condition:literal) => {
                concat!(
                    "SELECT user_id, email, name, role, password_hash, created_at FROM users WHERE ",
                    $condition
                )
            };
        }
        let user: Option<StoredUser> = match by {
            UserBy::Email(email) => {
                sqlx::query_as(select_user!("lower(email) = $1"))
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?
            }
            UserBy::Id(id) => {
                sqlx::query_as(select_user!("user_id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        Ok(user)
    }
}

impl QueryHandler for AuthQueries {
    fn answers() -> Answers<Self> {
        Answers::new(Topic::AuthQueries)
            .on(Self::login)
            .on(Self::get_user)
    }
}

enum UserBy<'a> {
    Email(&'a str),
    Id(Uuid),
}

/// A user as stored.
#[derive(sqlx::FromRow)]
struct StoredUser {
    user_id: Uuid,
    email: String,
    name: String,
    #[sqlx(try_from = "String")]
    role: Role,
    password_hash: String,
    created_at: DateTime<Utc>,
}

impl StoredUser {
    fn profile(&self) -> UserProfile {
        UserProfile {
            user_id: self.user_id,
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role,
            created_at: self.created_at,
        }
    }
}
