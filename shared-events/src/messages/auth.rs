//! Users: registration, login and lookups (`auth.commands`, `auth.events`, `auth.queries`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{impl_message, impl_query};
use crate::envelope::Role;

/// Command: create a user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterUser {
    /// The new user's id, chosen by the gateway so it can answer before the user exists.
    pub user_id: Uuid,
    /// Login email; unique across users (auth rejects a duplicate).
    pub email: String,
    /// Display name.
    pub name: String,
    /// `buyer` or `seller`; auth rejects `admin`, which only comes from its own configuration.
    pub role: Role,
    /// The password hash (PHC string), computed by the gateway: the plaintext never reaches a topic.
    pub password_hash: String,
}

/// Event: a user account exists. Carries no password hash, so the event is safe to share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRegistered {
    /// The user's id.
    pub user_id: Uuid,
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// The user's role.
    pub role: Role,
}

/// Query: check credentials and issue a token. Only on the short-lived `auth.queries` topic,
/// because it carries the plaintext password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    /// Login email.
    pub email: String,
    /// The password as typed.
    pub password: String,
}

/// Query: one user's public profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetUser {
    /// The user's id.
    pub user_id: Uuid,
}

/// The answer to [`Login`]: a signed token and who it is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// A JWT signed by auth.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The signed-in user.
    pub user: UserProfile,
}

/// A user as others may see it: never the password hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    /// The user's id.
    pub user_id: Uuid,
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// The user's role.
    pub role: Role,
    /// When the account was made.
    pub created_at: DateTime<Utc>,
}

/// Event on the compacted `auth.keys` topic, keyed by `kid`: a public key that verifies
/// tokens whose header names `kid`. Auth publishes it at every start; verifiers keep
/// every key they have seen whose `kid` is its thumbprint, so a token signed before a
/// rotation stays valid until it expires. A tombstone (null value) under a `kid`
/// revokes that key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeyPublished {
    /// Key id, as in the token header: the RFC 7638 JWK thumbprint of the public key
    /// (SHA-256 of `{"crv":"Ed25519","kty":"OKP","x":"<publicKey>"}`, base64url without
    /// padding), so a key cannot be published under another key's id.
    pub kid: String,
    /// Always `EdDSA` (Ed25519).
    pub algorithm: String,
    /// The raw 32-byte Ed25519 public key, base64url without padding (a JWK's `x`).
    pub public_key: String,
    /// When auth generated the key.
    pub created_at: DateTime<Utc>,
}

impl SigningKeyPublished {
    /// The key id of an Ed25519 public key (a JWK's `x`): its RFC 7638 JWK thumbprint,
    /// SHA-256 over the required members in lexicographic order without whitespace,
    /// base64url without padding.
    pub fn thumbprint(public_key: &str) -> String {
        let jwk = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{public_key}"}}"#);
        let digest = ring::digest::digest(&ring::digest::SHA256, jwk.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    /// Whether `kid` is the thumbprint of `public_key`: the only key a verifier accepts.
    pub fn kid_matches_key(&self) -> bool {
        self.kid == Self::thumbprint(&self.public_key)
    }
}

/// What a token says. Auth signs it; the gateway verifies the signature, the issuer,
/// the audience and the expiry before trusting any of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Always [`Claims::ISSUER`].
    pub iss: String,
    /// Always [`Claims::AUDIENCE`].
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

impl Claims {
    /// The `iss` of every token auth signs.
    pub const ISSUER: &'static str = "commerce-auth";
    /// The `aud` of every token auth signs.
    pub const AUDIENCE: &'static str = "commerce-api";
}

impl_message! {
    RegisterUser => "auth.register_user",
    UserRegistered => "auth.user_registered",
    Login => "auth.login",
    GetUser => "auth.get_user",
    SigningKeyPublished => "auth.signing_key_published",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint_of_the_rfc_8037_example_key() {
        // RFC 8037, appendix A.3: the thumbprint of the example Ed25519 public key.
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        assert_eq!(
            SigningKeyPublished::thumbprint(x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn a_key_under_another_kid_does_not_match() {
        let public_key = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".to_string();
        let mut published = SigningKeyPublished {
            kid: SigningKeyPublished::thumbprint(&public_key),
            algorithm: "EdDSA".into(),
            public_key,
            created_at: Utc::now(),
        };
        assert!(published.kid_matches_key());
        published.kid = "auth-key-1".into();
        assert!(!published.kid_matches_key());
    }
}

impl_query! {
    Login => Session,
    GetUser => UserProfile,
}
