//! The auth routes. Register hashes the password off the async threads and sends
//! `auth.register_user`, so no plaintext password reaches a retained topic; login and
//! `/api/me` are queries on `auth.queries`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::Json;
use schemars::JsonSchema;
use serde::Deserialize;
use shared_events::messages::auth::{GetUser, Login, RegisterUser, Session, UserProfile};
use shared_events::rules::{self, Problems};
use shared_events::{Envelope, Role, Topic};
use uuid::Uuid;

use crate::dispatch::{Accepted, Command, Correlation, UserAccepted};
use crate::error::ApiError;
use crate::extract::Body;
use crate::limits::retry_after_secs;
use crate::tokens::User;
use crate::AppState;

/// The registration body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// Login email, unique; kept trimmed and lower-cased.
    #[schemars(email, length(max = rules::MAX_EMAIL))]
    email: String,
    /// 8 to 72 bytes.
    #[schemars(length(min = rules::MIN_PASSWORD))]
    password: String,
    /// Display name.
    #[schemars(length(min = 1, max = rules::MAX_USER_NAME))]
    name: String,
    /// `buyer` (the default) or `seller`.
    #[serde(default)]
    #[schemars(extend("enum" = ["buyer", "seller"], "default" = "buyer"))]
    role: Option<String>,
}

/// A registration that passed every check.
#[derive(Debug, PartialEq)]
pub struct Registration {
    /// Trimmed, lower-cased.
    pub email: String,
    /// As typed; only its hash leaves the gateway.
    pub password: String,
    /// Trimmed.
    pub name: String,
    /// Buyer (default) or seller.
    pub role: Role,
}

impl RegisterRequest {
    /// Checks every field and reports all problems at once, by field.
    pub fn validate(self) -> Result<Registration, Problems> {
        let mut problems = Problems::new();
        let email = rules::normalize_email(&self.email);
        if email.is_none() {
            problems.insert("email", "must be an email address".into());
        }
        if let Some(problem) = rules::password_problem(&self.password) {
            problems.insert("password", problem);
        }
        if let Some(problem) = rules::line_problem(&self.name, rules::MAX_USER_NAME) {
            problems.insert("name", problem);
        }
        let name = self.name.trim().to_string();
        let role = match self.role.as_deref() {
            None | Some("buyer") => Some(Role::Buyer),
            Some("seller") => Some(Role::Seller),
            Some(_) => {
                problems.insert("role", "must be buyer or seller".into());
                None
            }
        };
        match role {
            Some(role) if problems.is_empty() => Ok(Registration {
                email: email.unwrap_or_default(),
                password: self.password,
                name,
                role,
            }),
            _ => Err(problems),
        }
    }
}

/// Sends `auth.register_user` and answers 202 once the broker acknowledged it.
/// Rate-limited per client address, since every registration costs a bcrypt hash: 429
/// with `Retry-After` past the limit.
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Correlation(correlation_id): Correlation,
    Body(request): Body<RegisterRequest>,
) -> Result<Accepted<UserAccepted>, ApiError> {
    let registration = request.validate().map_err(ApiError::problems)?;
    // Hashing is the gateway's costliest work: beyond the cores, shed load quickly
    // instead of building a queue that takes minutes to clear. The attempt is counted
    // only once it holds a hashing slot, so one shed with 503 costs the client nothing
    // and comes back after `Retry-After` unpunished; one refused with 429 gives its slot
    // straight back, before any hashing.
    let slot = tokio::time::timeout(
        state.config.hashing_queue,
        state.hashing.clone().acquire_owned(),
    )
    .await
    .map_err(|_| ApiError::Busy)?
    .map_err(|err| ApiError::Internal(err.into()))?;
    state
        .registrations_per_address
        .hit(&peer.ip())
        .map_err(rate_limited)?;
    let cost = state.config.bcrypt_cost;
    let password = registration.password;
    let password_hash = tokio::task::spawn_blocking(move || {
        let hashed = bcrypt::hash(password, cost);
        drop(slot);
        hashed
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))?
    .map_err(|err| ApiError::Internal(err.into()))?;
    let user_id = Uuid::new_v4();
    let command = RegisterUser {
        user_id,
        email: registration.email,
        name: registration.name,
        role: registration.role,
        password_hash,
    };
    let envelope = Envelope::new(command, correlation_id, None);
    let command = Command::new(Topic::AuthCommands, user_id, envelope);
    state.accept(command, UserAccepted::of(user_id)).await
}

/// The login body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// Login email, in any case.
    #[schemars(length(min = 1, max = rules::MAX_EMAIL))]
    email: String,
    /// 1 to 72 bytes.
    #[schemars(length(min = 1))]
    password: String,
}

/// `POST /api/auth/login`: asks auth over `auth.queries` (short retention: the password
/// is in it) and answers its token, or 401. Rate-limited per client address (all
/// attempts) and per email (failed attempts), with 429 and `Retry-After`.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Correlation(correlation_id): Correlation,
    Body(request): Body<LoginRequest>,
) -> Result<Json<Session>, ApiError> {
    state
        .login_limits
        .per_address
        .hit(&peer.ip())
        .map_err(rate_limited)?;
    let email = request.email.trim().to_lowercase();
    let mut problems = Problems::new();
    if email.is_empty()
        || email.len() > rules::MAX_EMAIL
        || rules::has_control_characters(&email, false)
    {
        problems.insert(
            "email",
            format!(
                "must be 1 to {} characters without control characters",
                rules::MAX_EMAIL
            ),
        );
    }
    if request.password.is_empty() || request.password.len() > rules::MAX_PASSWORD_BYTES {
        problems.insert(
            "password",
            format!("must be 1 to {} bytes long", rules::MAX_PASSWORD_BYTES),
        );
    }
    if !problems.is_empty() {
        return Err(ApiError::problems(problems));
    }
    // Every attempt counts when it starts, so guesses sent at once are bounded too; a
    // successful login starts the email over.
    let attempts = &state.login_limits.failures_per_email;
    if let Err(wait) = attempts.hit(&email) {
        tracing::warn!("login refused: too many failed attempts for this email");
        return Err(rate_limited(wait));
    }
    let query = Login {
        email: email.clone(),
        password: request.password,
    };
    let answer = state
        .ask(
            Topic::AuthQueries,
            &email,
            Envelope::new(query, correlation_id, None),
        )
        .await;
    if answer.is_ok() {
        attempts.forget(&email);
    }
    answer.map(Json)
}

fn rate_limited(wait: std::time::Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after: retry_after_secs(wait),
    }
}

/// `GET /api/me`: the signed-in user's profile, from auth over `auth.queries`.
pub async fn me(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    user: User,
) -> Result<Json<UserProfile>, ApiError> {
    let query = GetUser { user_id: user.id };
    let envelope = Envelope::new(query, correlation_id, Some(user.actor()));
    state
        .ask(Topic::AuthQueries, user.id, envelope)
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(email: &str, password: &str, name: &str, role: Option<&str>) -> RegisterRequest {
        RegisterRequest {
            email: email.into(),
            password: password.into(),
            name: name.into(),
            role: role.map(String::from),
        }
    }

    #[test]
    fn a_valid_registration_is_normalized_and_defaults_to_buyer() {
        let valid = request(" Ada@Example.com ", "correct horse", " Ada ", None)
            .validate()
            .unwrap();
        assert_eq!(
            (valid.email.as_str(), valid.name.as_str(), valid.role),
            ("ada@example.com", "Ada", Role::Buyer)
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let problems = request("nope", "short", "", Some("admin"))
            .validate()
            .unwrap_err();
        for field in ["email", "password", "name", "role"] {
            assert!(
                problems.contains_key(field),
                "{field} not reported in {problems:?}"
            );
        }
    }

    #[test]
    fn registering_as_admin_is_refused() {
        let problems = request("a@b.io", "long enough", "A", Some("admin"))
            .validate()
            .unwrap_err();
        assert_eq!(problems["role"], "must be buyer or seller");
    }
}
