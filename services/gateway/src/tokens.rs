//! Token verification: the gateway checks every bearer token itself, with the public
//! keys auth publishes on `auth.keys`. It holds no signing key and cannot make a token.
//!
//! A key is trusted only if its `kid` is its own RFC 7638 thumbprint, so nobody can
//! publish a key under an id that tokens already name; the key of a known `kid` is never
//! replaced; a tombstone under a `kid` revokes that key for good (in this process: a
//! later message for the same `kid` does not bring it back).
//!
//! A token is accepted only if its header names a known key id, its algorithm is EdDSA
//! (so `alg: none` and the HS* family, which would let a public key be used as a shared
//! secret, are refused before any signature is checked), its signature verifies, its
//! issuer and audience are auth's, and it has not expired.
//!
//! A token that passed is remembered (by its exact text, in a bounded cache) with its
//! claims and key id, so the next request with it costs a lookup instead of a signature
//! check: the cache answers only while the token has not expired and its key is still
//! known, so expiry and revocation hold as for a token checked afresh.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use kafka_runtime::follow::{follow_keyed, Keyed, Reader, Start};
use kafka_runtime::KafkaConfig;
use shared_events::access::{self, Owner};
use shared_events::messages::auth::{Claims, SigningKeyPublished};
use shared_events::{Actor, Role, Topic};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::ApiError;

/// The public keys known so far, by key id, and the key ids revoked.
#[derive(Clone, Default)]
pub struct Verifier {
    keys: Arc<RwLock<Keys>>,
    verified: Arc<Mutex<HashMap<String, Verified>>>,
}

/// Tokens remembered as verified, at most: a client sends the same token for an hour,
/// so a few thousand cover every active user of one gateway.
const VERIFIED_TOKENS: usize = 4096;
/// Seconds a token is honoured past its `exp`, for clocks a little apart.
const LEEWAY: u64 = 5;

/// A token that passed every check: its claims, and the key that signed it.
struct Verified {
    claims: Claims,
    kid: String,
}

#[derive(Default)]
struct Keys {
    known: HashMap<String, Known>,
    revoked: HashSet<String>,
}

struct Known {
    public_key: String,
    decoding: DecodingKey,
}

impl Verifier {
    /// Starts following `auth.keys` from its beginning; keys arrive in the background,
    /// read by the returned reader.
    pub async fn start(
        kafka: &KafkaConfig,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(Self, Reader)> {
        let verifier = Self::default();
        let learner = verifier.clone();
        let topic = kafka.topics.name(Topic::AuthKeys);
        let reader =
            follow_keyed(
                kafka,
                &topic,
                Start::Beginning,
                shutdown,
                move |record| match record {
                    Keyed::Message(published) => learner.learn(&published.data),
                    Keyed::Tombstone(kid) => learner.revoke(&kid),
                },
            )
            .await?;
        Ok((verifier, reader))
    }

    /// Adds a published key. Ignored, with a warning: a key of another algorithm, an
    /// unreadable one, one whose `kid` is not its thumbprint, a different key under a
    /// known `kid`, and any key under a revoked `kid`.
    pub fn learn(&self, published: &SigningKeyPublished) {
        let kid = &published.kid;
        if published.algorithm != "EdDSA" {
            tracing::warn!(%kid, algorithm = %published.algorithm, "key of an unsupported algorithm ignored");
            return;
        }
        if !published.kid_matches_key() {
            tracing::warn!(%kid, "key ignored: its kid is not the thumbprint of the key");
            return;
        }
        let decoding = match DecodingKey::from_ed_components(&published.public_key) {
            Ok(decoding) => decoding,
            Err(err) => {
                tracing::warn!(%kid, error = %err, "unreadable public key ignored");
                return;
            }
        };
        let mut keys = self.keys.write().expect("not poisoned");
        if keys.revoked.contains(kid) {
            tracing::warn!(%kid, "key ignored: its kid was revoked");
            return;
        }
        match keys.known.get(kid) {
            Some(known) if known.public_key == published.public_key => {}
            Some(_) => {
                tracing::warn!(%kid, "key ignored: another key is known under its kid")
            }
            None => {
                keys.known.insert(
                    kid.clone(),
                    Known {
                        public_key: published.public_key.clone(),
                        decoding,
                    },
                );
                tracing::info!(%kid, "learned a token verification key");
            }
        }
    }

    /// Forgets the key of `kid` and refuses it from now on: tokens it signed stop
    /// verifying.
    pub fn revoke(&self, kid: &str) {
        let mut keys = self.keys.write().expect("not poisoned");
        let known = keys.known.remove(kid).is_some();
        if keys.revoked.insert(kid.to_string()) {
            tracing::warn!(%kid, known, "token verification key revoked");
        }
    }

    /// How many keys are known; the gateway is ready once there is one.
    pub fn known_keys(&self) -> usize {
        self.keys.read().expect("not poisoned").known.len()
    }

    /// The claims of a token that passes every check.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        if let Some(claims) = self.remembered(token) {
            return Ok(claims);
        }
        let invalid = || ApiError::Unauthorized("the token is invalid or expired");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let keys = self.keys.read().expect("not poisoned");
        let key = &keys.known.get(&kid).ok_or_else(invalid)?.decoding;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY;
        validation.set_issuer(&[Claims::ISSUER]);
        validation.set_audience(&[Claims::AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|_| invalid())?;
        drop(keys);
        self.remember(token, &claims, kid);
        Ok(claims)
    }

    /// The claims of a token verified before, if it has not expired since and the key
    /// that signed it is still known (not revoked).
    fn remembered(&self, token: &str) -> Option<Claims> {
        let verified = self.verified.lock().expect("not poisoned");
        let entry = verified.get(token)?;
        let live = !expired(&entry.claims, jsonwebtoken::get_current_timestamp());
        let keys = self.keys.read().expect("not poisoned");
        (live && keys.known.contains_key(&entry.kid)).then(|| entry.claims.clone())
    }

    fn remember(&self, token: &str, claims: &Claims, kid: String) {
        let mut verified = self.verified.lock().expect("not poisoned");
        if verified.len() >= VERIFIED_TOKENS {
            let now = jsonwebtoken::get_current_timestamp();
            verified.retain(|_, entry| !expired(&entry.claims, now));
            if verified.len() >= VERIFIED_TOKENS {
                verified.clear(); // every one live: start over rather than grow
            }
        }
        let claims = claims.clone();
        verified.insert(token.to_string(), Verified { claims, kid });
    }
}

/// Whether `claims` have expired at `now` (seconds since the epoch), with the leeway.
fn expired(claims: &Claims, now: u64) -> bool {
    u64::try_from(claims.exp).map_or(true, |exp| exp.saturating_add(LEEWAY) < now)
}

/// Who may use the buyer's routes (orders, cart): buyers, and admins acting for them.
pub const BUYERS: &[Role] = &[Role::Buyer, Role::Admin];
/// Who may use the seller's routes (products, stock): sellers, and admins.
pub const SELLERS: &[Role] = &[Role::Seller, Role::Admin];
/// Who may use the admin's routes (low stock, fulfilment).
pub const ADMINS: &[Role] = &[Role::Admin];

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

    /// Whether this user may act on what `owner` owns (the platform's one rule).
    pub fn may_act_on(&self, owner: Owner) -> bool {
        access::may_act_on(Some(&self.actor()), owner)
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

    /// A fresh key's public half published under `kid`, and a token it signed naming
    /// `kid`.
    fn forged_under(kid: &str) -> (SigningKeyPublished, String) {
        let (forger, pkcs8) = SigningKey::generate().unwrap();
        let mut published = forger.public().clone();
        published.kid = kid.to_string();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_string());
        let token =
            jsonwebtoken::encode(&header, &claims(60), &EncodingKey::from_ed_der(&pkcs8)).unwrap();
        (published, token)
    }

    #[test]
    fn a_token_verified_before_stops_verifying_once_its_key_is_revoked() {
        let (key, _) = SigningKey::generate().unwrap();
        let verifier = verifier_knowing(&key);
        let token = key.sign(&claims(60)).unwrap();
        assert!(verifier.verify(&token).is_ok());
        assert!(
            verifier.remembered(&token).is_some(),
            "remembered once verified"
        );
        verifier.revoke(key.kid());
        assert!(rejected(&verifier, &token));
    }

    #[test]
    fn a_token_verified_before_is_refused_once_it_expired() {
        let (key, _) = SigningKey::generate().unwrap();
        let verifier = verifier_knowing(&key);
        let token = key.sign(&claims(60)).unwrap();
        let mut stale = verifier.verify(&token).unwrap();
        // As if the hour had passed since it was remembered.
        stale.exp -= 60 + LEEWAY as i64 + 1;
        let kid = key.kid().to_string();
        verifier
            .verified
            .lock()
            .unwrap()
            .insert(token.clone(), Verified { claims: stale, kid });
        assert!(verifier.remembered(&token).is_none());
        // Checked afresh, its signature still holds and its own exp is an hour away.
        assert!(verifier.verify(&token).is_ok());
    }

    #[test]
    fn the_cache_of_verified_tokens_stays_bounded() {
        let (key, _) = SigningKey::generate().unwrap();
        let verifier = verifier_knowing(&key);
        for _ in 0..VERIFIED_TOKENS + 10 {
            verifier.verify(&key.sign(&claims(60)).unwrap()).unwrap();
        }
        assert!(verifier.verified.lock().unwrap().len() <= VERIFIED_TOKENS);
    }

    #[test]
    fn a_key_under_a_kid_that_is_not_its_thumbprint_is_ignored() {
        let verifier = Verifier::default();
        let (published, token) = forged_under("auth-key-1");
        verifier.learn(&published);
        assert_eq!(verifier.known_keys(), 0);
        assert!(rejected(&verifier, &token));
    }

    #[test]
    fn another_key_under_a_known_kid_does_not_replace_it() {
        let (key, _) = SigningKey::generate().unwrap();
        let verifier = verifier_knowing(&key);
        let (forged, forged_token) = forged_under(key.kid());
        verifier.learn(&forged);
        assert!(rejected(&verifier, &forged_token));
        assert!(verifier.verify(&key.sign(&claims(60)).unwrap()).is_ok());
    }

    #[test]
    fn a_revoked_key_stops_verifying_and_stays_revoked_when_published_again() {
        let (key, _) = SigningKey::generate().unwrap();
        let verifier = verifier_knowing(&key);
        let token = key.sign(&claims(60)).unwrap();
        verifier.revoke(key.kid());
        assert!(rejected(&verifier, &token));
        verifier.learn(key.public());
        assert!(rejected(&verifier, &token));
        assert_eq!(verifier.known_keys(), 0);
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
