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

    /// Loads a key from its PKCS#8 document; the key id is the RFC 7638 thumbprint of
    /// the public key.
    pub fn from_pkcs8(pkcs8: &[u8], created_at: DateTime<Utc>) -> anyhow::Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| anyhow::anyhow!("stored signing key is not an Ed25519 PKCS#8 key"))?;
        let public_key = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let kid = SigningKeyPublished::thumbprint(&public_key);
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

/// The advisory lock auth's instances take while they change `signing_keys`.
const KEYS_LOCK: i64 = 4207001;

/// Rewrites stored key ids that are not the thumbprint of their key (the UUIDv5 ids of
/// earlier versions, which gateways no longer accept) and returns the old ids, so their
/// messages on `auth.keys` can be withdrawn. Tokens signed under an old id stop
/// verifying: their users log in again.
pub async fn upgrade_key_ids(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(KEYS_LOCK)
        .execute(&mut *tx)
        .await?;
    let stored: Vec<(String, String)> = sqlx::query_as("SELECT kid, public_key FROM signing_keys")
        .fetch_all(&mut *tx)
        .await?;
    let mut old_ids = Vec::new();
    for (kid, public_key) in stored {
        let thumbprint = SigningKeyPublished::thumbprint(&public_key);
        if kid != thumbprint {
            sqlx::query("UPDATE signing_keys SET kid = $1 WHERE kid = $2")
                .bind(&thumbprint)
                .bind(&kid)
                .execute(&mut *tx)
                .await?;
            tracing::warn!(old = %kid, new = %thumbprint, "signing key id rewritten to its thumbprint");
            old_ids.push(kid);
        }
    }
    tx.commit().await?;
    Ok(old_ids)
}

/// The newest key that is neither retired nor revoked; generated and stored when there
/// is none. Instances starting together serialize on an advisory lock, so they share
/// one key.
pub async fn load_or_create(pool: &PgPool) -> anyhow::Result<SigningKey> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(KEYS_LOCK)
        .execute(&mut *tx)
        .await?;
    let stored: Option<(Vec<u8>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT private_key, created_at FROM signing_keys
         WHERE retired_at IS NULL AND revoked_at IS NULL
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

/// Every public key auth has that is not revoked, retired ones included: tokens they
/// signed may still be valid, and a gateway that starts after a rotation must still
/// verify them.
pub async fn published_keys(pool: &PgPool) -> anyhow::Result<Vec<SigningKeyPublished>> {
    let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT kid, public_key, created_at FROM signing_keys WHERE revoked_at IS NULL
         ORDER BY created_at",
    )
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

/// The ids of revoked keys: withdrawn from `auth.keys` at every start.
pub async fn revoked_kids(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT kid FROM signing_keys WHERE revoked_at IS NOT NULL")
            .fetch_all(pool)
            .await?,
    )
}

/// Withdraws `withdrawn` key ids from `auth.keys` with tombstones (gateways drop those
/// keys, and compaction drops their messages), then publishes the public keys, keyed by
/// key id. The envelope id derives from the key id, so publishing at every start
/// repeats one message, not many.
pub async fn publish(
    publisher: &Publisher,
    topics: &Topics,
    keys: Vec<SigningKeyPublished>,
    withdrawn: &[String],
) -> anyhow::Result<()> {
    let topic = topics.name(Topic::AuthKeys);
    for kid in withdrawn {
        publisher.send_tombstone(&topic, kid.as_bytes()).await?;
    }
    for key in keys {
        let kid = key.kid.clone();
        let mut envelope = Envelope::start(key, None);
        envelope.id = derive_id(Uuid::NAMESPACE_OID, &format!("auth.keys#{kid}"));
        envelope.correlation_id = envelope.id;
        let outgoing = kafka_runtime::Outgoing::new(topic.clone(), &kid, &envelope);
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
    fn the_key_id_is_the_thumbprint_of_the_public_key() {
        let (key, _) = SigningKey::generate().unwrap();
        assert!(key.public().kid_matches_key());
        assert_eq!(key.kid().len(), 43, "SHA-256, base64url without padding");
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
