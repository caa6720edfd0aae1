//! The token signing key: generated at first start, kept in auth's database, its public
//! half published on the compacted `auth.keys` topic for the gateways.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kafka_runtime::Publisher;
use ring::signature::{Ed25519KeyPair, KeyPair};
use shared_events::messages::auth::{Claims, SigningKeyPublished};
use shared_events::{derive_id, Envelope, Topic, Topics};
use sqlx::PgPool;
use uuid::Uuid;

/// The key auth signs with. Its `Debug` shows only the key id.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public: SigningKeyPublished,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh Ed25519 key.
    pub fn generate() -> anyhow::Result<(Self, Vec<u8>)> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow::anyhow!("could not generate an Ed25519 key"))?;
        let key = Self::from_pkcs8(pkcs8.as_ref(), Utc::now())?;
        Ok((key, pkcs8.as_ref().to_vec()))
    }

    /// Loads a key from its PKCS#8 document; the key id is derived from the public key.
    pub fn from_pkcs8(pkcs8: &[u8], created_at: DateTime<Utc>) -> anyhow::Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| anyhow::anyhow!("stored signing key is not an Ed25519 PKCS#8 key"))?;
        let public_key = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let kid = Uuid::new_v5(&Uuid::NAMESPACE_OID, public_key.as_bytes()).to_string();
        Ok(Self {
            kid: kid.clone(),
            encoding: EncodingKey::from_ed_der(pkcs8),
            public: SigningKeyPublished {
                kid,
                algorithm: "EdDSA".into(),
                public_key,
                created_at,
            },
        })
    }

    /// The key id tokens name in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, as published.
    pub fn public(&self) -> &SigningKeyPublished {
        &self.public
    }

    /// Signs claims into a JWT whose header names this key.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

/// The newest key that is not retired; generated and stored when there is none.
/// Instances starting together serialize on an advisory lock, so they share one key.
pub async fn load_or_create(pool: &PgPool) -> anyhow::Result<SigningKey> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(4207001)")
        .execute(&mut *tx)
        .await?;
    let stored: Option<(Vec<u8>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT private_key, created_at FROM signing_keys WHERE retired_at IS NULL
         ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let key = match stored {
        Some((pkcs8, created_at)) => SigningKey::from_pkcs8(&pkcs8, created_at)?,
        None => {
            let (key, pkcs8) = SigningKey::generate()?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at)
                 VALUES ($1, 'EdDSA', $2, $3, $4)",
            )
            .bind(key.kid())
            .bind(&pkcs8)
            .bind(&key.public.public_key)
            .bind(key.public.created_at)
            .execute(&mut *tx)
            .await?;
            tracing::info!(kid = key.kid(), "generated a new token signing key");
            key
        }
    };
    tx.commit().await?;
    Ok(key)
}

/// Every public key auth has, retired ones included: tokens they signed may still be
/// valid, and a gateway that starts after a rotation must still verify them.
pub async fn published_keys(pool: &PgPool) -> anyhow::Result<Vec<SigningKeyPublished>> {
    let rows: Vec<(String, String, DateTime<Utc>)> =
        sqlx::query_as("SELECT kid, public_key, created_at FROM signing_keys ORDER BY created_at")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(kid, public_key, created_at)| SigningKeyPublished {
            kid,
            algorithm: "EdDSA".into(),
            public_key,
            created_at,
        })
        .collect())
}

/// Publishes the public keys on `auth.keys`, keyed by key id. The envelope id derives
/// from the key id, so publishing at every start repeats one message, not many.
pub async fn publish(
    publisher: &Publisher,
    topics: &Topics,
    keys: Vec<SigningKeyPublished>,
) -> anyhow::Result<()> {
    for key in keys {
        let kid = key.kid.clone();
        let mut envelope = Envelope::start(key, None);
        envelope.id = derive_id(Uuid::NAMESPACE_OID, &format!("auth.keys#{kid}"));
        envelope.correlation_id = envelope.id;
        let outgoing = kafka_runtime::Outgoing::new(topics.name(Topic::AuthKeys), &kid, &envelope);
        publisher.send(&outgoing).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use shared_events::Role;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::new_v4(),
            role: Role::Buyer,
            iss: Claims::ISSUER.into(),
            aud: Claims::AUDIENCE.into(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn a_token_verifies_with_the_published_public_key_and_names_its_key() {
        let (key, _) = SigningKey::generate().unwrap();
        let expected = claims(Utc::now().timestamp() + 60);
        let token = key.sign(&expected).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
            Some(key.kid())
        );
        let public = DecodingKey::from_ed_components(&key.public().public_key).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[Claims::AUDIENCE]);
        let decoded = jsonwebtoken::decode::<Claims>(&token, &public, &validation).unwrap();
        assert_eq!(decoded.claims, expected);
    }

    #[test]
    fn a_stored_key_loads_back_with_the_same_key_id() {
        let (key, pkcs8) = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8(&pkcs8, key.public().created_at).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.public(), key.public());
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let (key, _) = SigningKey::generate().unwrap();
        assert_eq!(
            format!("{key:?}"),
            format!("SigningKey {{ kid: {:?}, .. }}", key.kid())
        );
    }
}
