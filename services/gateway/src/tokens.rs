//! Token verification: the gateway checks every bearer token itself, with the public
//! keys auth publishes on `auth.keys`. It holds no signing key and cannot make a token.
//!
//! A token is accepted only if its header names a known key id, its algorithm is EdDSA
//! (so `alg: none` and the HS* family, which would let a public key be used as a shared
//! secret, are refused before any signature is checked), its signature verifies, its
//! issuer and audience are auth's, and it has not expired.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use kafka_runtime::follow::{follow, Start};
use kafka_runtime::KafkaConfig;
use shared_events::messages::auth::{Claims, SigningKeyPublished};
use shared_events::{Actor, Envelope, Role, Topic};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::ApiError;

/// The public keys known so far, by key id.
#[derive(Clone, Default)]
pub struct Verifier {
    keys: Arc<RwLock<HashMap<String, DecodingKey>>>,
}

impl Verifier {
    /// Starts following `auth.keys` from its beginning; keys arrive in the background.
    pub async fn start(kafka: &KafkaConfig, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let verifier = Self::default();
        let learner = verifier.clone();
        let topic = kafka.topics.name(Topic::AuthKeys);
        follow(
            kafka,
            &topic,
            Start::Beginning,
            shutdown,
            move |published: Envelope<SigningKeyPublished>| learner.learn(&published.data),
        )
        .await?;
        Ok(verifier)
    }

    /// Adds a published key; a key of another algorithm or an unreadable one is ignored.
    pub fn learn(&self, published: &SigningKeyPublished) {
        if published.algorithm != "EdDSA" {
            tracing::warn!(kid = %published.kid, algorithm = %published.algorithm, "key of an unsupported algorithm ignored");
            return;
        }
        match DecodingKey::from_ed_components(&published.public_key) {
            Ok(key) => {
                let mut keys = self.keys.write().expect("not poisoned");
                if keys.insert(published.kid.clone(), key).is_none() {
                    tracing::info!(kid = %published.kid, "learned a token verification key");
                }
            }
            Err(err) => {
                tracing::warn!(kid = %published.kid, error = %err, "unreadable public key ignored")
            }
        }
    }

    /// How many keys are known; the gateway is ready once there is one.
    pub fn known_keys(&self) -> usize {
        self.keys.read().expect("not poisoned").len()
    }

    /// The claims of a token that passes every check.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let invalid = || ApiError::Unauthorized("the token is invalid or expired");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let keys = self.keys.read().expect("not poisoned");
        let key = keys.get(&kid).ok_or_else(invalid)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 5;
        validation.set_issuer(&[Claims::ISSUER]);
        validation.set_audience(&[Claims::AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|_| invalid())
    }
}

/// The signed-in user of a request: a route that takes it answers 401 without a valid
/// bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// From the token's `sub`.
    pub id: Uuid,
    /// From the token's `role`.
    pub role: Role,
}

impl User {
    /// The user as a message's `actor`.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id,
            role: self.role,
        }
    }

    /// Whether this user may act on something `owner` owns: the owner or an admin.
    pub fn may_act_for(&self, owner: Uuid) -> bool {
        self.id == owner || self.role == Role::Admin
    }

    /// 403 unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl<S> FromRequestParts<S> for User
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer(parts)?.ok_or(ApiError::Unauthorized("a bearer token is required"))?;
        let claims = Verifier::from_ref(state).verify(token)?;
        Ok(User {
            id: claims.sub,
            role: claims.role,
        })
    }
}

/// A user if the request carries a token; a token that is present must be valid.
#[derive(Debug, Clone, Copy)]
pub struct MaybeUser(pub Option<User>);

impl<S> FromRequestParts<S> for MaybeUser
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if bearer(parts)?.is_none() {
            return Ok(Self(None));
        }
        User::from_request_parts(parts, state)
            .await
            .map(|user| Self(Some(user)))
    }
}

/// The token of an `Authorization: Bearer` header, if there is such a header.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::Unauthorized(
            "expected Authorization: Bearer <token>",
        )),
    }
}

#[cfg(test)]
mod tests {
    use auth::keys::SigningKey;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    fn claims(expires_in: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: Uuid::new_v4(),
            role: Role::Seller,
            iss: Claims::ISSUER.into(),
            aud: Claims::AUDIENCE.into(),
            iat: now,
            exp: now + expires_in,
        }
    }

    fn verifier_knowing(key: &SigningKey) -> Verifier {
        let verifier = Verifier::default();
        verifier.learn(key.public());
        verifier
    }

    fn rejected(verifier: &Verifier, token: &str) -> bool {
        matches!(verifier.verify(token), Err(ApiError::Unauthorized(_)))
    }

    #[test]
    fn a_token_signed_by_a_published_key_verifies() {
        let (key, _) = SigningKey::generate().unwrap();
        let expected = claims(60);
        let token = key.sign(&expected).unwrap();
        assert_eq!(verifier_knowing(&key).verify(&token).unwrap(), expected);
    }

    #[test]
    fn an_expired_token_is_refused() {
        let (key, _) = SigningKey::generate().unwrap();
        let token = key.sign(&claims(-60)).unwrap();
        assert!(rejected(&verifier_knowing(&key), &token));
    }

    #[test]
    fn a_token_from_an_unknown_key_is_refused() {
        let (known, _) = SigningKey::generate().unwrap();
        let (forger, _) = SigningKey::generate().unwrap();
        let token = forger.sign(&claims(60)).unwrap();
        assert!(rejected(&verifier_knowing(&known), &token));
    }

    #[test]
    fn a_token_with_a_tampered_payload_is_refused() {
        let (key, _) = SigningKey::generate().unwrap();
        let token = key.sign(&claims(60)).unwrap();
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut admin = claims(60);
        admin.role = Role::Admin;
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin).unwrap());
        assert!(rejected(&verifier_knowing(&key), &parts.join(".")));
    }

    #[test]
    fn alg_none_is_refused() {
        let (key, _) = SigningKey::generate().unwrap();
        let header = format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, key.kid());
        let token = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(60)).unwrap())
        );
        assert!(rejected(&verifier_knowing(&key), &token));
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_refused() {
        let (key, _) = SigningKey::generate().unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid().to_string());
        let secret = EncodingKey::from_secret(key.public().public_key.as_bytes());
        let token = jsonwebtoken::encode(&header, &claims(60), &secret).unwrap();
        assert!(rejected(&verifier_knowing(&key), &token));
    }

    #[test]
    fn a_token_for_another_audience_is_refused() {
        let (key, _) = SigningKey::generate().unwrap();
        let mut other = claims(60);
        other.aud = "somebody-else".into();
        assert!(rejected(
            &verifier_knowing(&key),
            &key.sign(&other).unwrap()
        ));
    }
}
