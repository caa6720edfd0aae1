//! `POST /api/auth/register`: validate, hash the password off the async threads, send
//! `auth.register_user`, answer 202 with where to follow the outcome.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use shared_events::messages::auth::RegisterUser;
use shared_events::{Envelope, Role, Topic};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Body;
use crate::AppState;

/// The registration body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    email: String,
    password: String,
    name: String,
    #[serde(default)]
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
    pub fn validate(self) -> Result<Registration, Value> {
        let mut problems = Map::new();
        let email = self.email.trim().to_lowercase();
        let plausible = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
        if !plausible || email.len() > 254 || email.chars().any(char::is_whitespace) {
            problems.insert("email".into(), "must be an email address".into());
        }
        let password_length = self.password.chars().count();
        // bcrypt reads at most 72 bytes; longer passwords would be silently cut.
        if password_length < 8 || self.password.len() > 72 {
            problems.insert("password".into(), "must be 8 to 72 bytes long".into());
        }
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            problems.insert("name".into(), "must be 1 to 100 characters".into());
        }
        let role = match self.role.as_deref() {
            None | Some("buyer") => Some(Role::Buyer),
            Some("seller") => Some(Role::Seller),
            Some(_) => {
                problems.insert("role".into(), "must be buyer or seller".into());
                None
            }
        };
        match role {
            Some(role) if problems.is_empty() => Ok(Registration {
                email,
                password: self.password,
                name,
                role,
            }),
            _ => Err(Value::Object(problems)),
        }
    }
}

/// Sends `auth.register_user` and answers 202 once the broker acknowledged it.
pub async fn register(
    State(state): State<AppState>,
    Body(request): Body<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let registration = request.validate().map_err(ApiError::invalid)?;
    let cost = state.config.bcrypt_cost;
    let password = registration.password;
    let password_hash = tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
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
    let envelope =
        Envelope::new(command, Uuid::new_v4(), None).with_reply_to(state.requester.replies_topic());
    state.outcomes.track(envelope.id, None);
    let trace = kafka_runtime::telemetry::TraceParent::root();
    state
        .requester
        .send(Topic::AuthCommands, user_id, &envelope, &trace)
        .await
        .map_err(|err| ApiError::Unavailable(err.into()))?;
    tracing::info!(command_id = %envelope.id, correlation_id = %envelope.correlation_id, %user_id, "registration accepted");
    let location = format!("/api/commands/{}", envelope.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(json!({ "commandId": envelope.id, "userId": user_id })),
    ))
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
                problems.get(field).is_some(),
                "{field} not reported in {problems}"
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
