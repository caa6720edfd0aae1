//! Key trust on `auth.keys`, end to end: the real gateway and auth binaries on the real
//! broker. A key is trusted only under its own thumbprint, a known key id keeps its key,
//! and a tombstone revokes.

mod common;

use std::time::Duration;

use auth::keys::SigningKey;
use common::Platform;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kafka_runtime::Publisher;
use shared_events::messages::auth::{Claims, SigningKeyPublished};
use shared_events::{Envelope, Role, Topic};
use testkit::{eventually, ServiceProcess};
use uuid::Uuid;

fn claims() -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: Uuid::new_v4(),
        role: Role::Admin,
        iss: Claims::ISSUER.into(),
        aud: Claims::AUDIENCE.into(),
        iat: now,
        exp: now + 600,
    }
}

/// A new key published under `kid` instead of its own id, and an admin token it signed
/// naming `kid`.
fn forged_under(kid: &str) -> (SigningKeyPublished, String) {
    let (forger, pkcs8) = SigningKey::generate().unwrap();
    let mut published = forger.public().clone();
    published.kid = kid.to_string();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    let token =
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_ed_der(&pkcs8)).unwrap();
    (published, token)
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Produces a key on `auth.keys`, as auth would; its partition.
async fn publish(platform: &Platform, key: &SigningKeyPublished) -> i32 {
    let topic = platform.bed.kafka.topics.name(Topic::AuthKeys);
    let envelope = Envelope::start(key.clone(), None);
    platform
        .bed
        .produce(&topic, &key.kid, &envelope.to_json())
        .await
        .0
}

/// Whether the gateway accepts the token (a verified token for an unknown user is 404).
async fn verifies(platform: &Platform, token: &str) -> bool {
    let answer = platform.call("GET", "/api/me", Some(token), None).await;
    answer.status != 401
}

/// Waits until the gateway has read `partition` of `auth.keys` past everything produced
/// so far: a valid key published after it, on that partition, verifies.
async fn read_past(platform: &Platform, partition: i32) {
    loop {
        let (marker, _) = SigningKey::generate().unwrap();
        if publish(platform, marker.public()).await != partition {
            continue;
        }
        let token = marker.sign(&claims()).unwrap();
        eventually(
            "the gateway learns the marker key",
            Duration::from_secs(30),
            || verifies(platform, &token),
        )
        .await;
        return;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_published_under_a_kid_that_is_not_its_thumbprint_is_ignored() {
    let platform = Platform::start(&[]).await;
    let (forged, token) = forged_under("auth-key-1");
    let partition = publish(&platform, &forged).await;
    read_past(&platform, partition).await;
    assert!(
        !verifies(&platform, &token).await,
        "an admin token signed by a key nobody vouched for is refused"
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_key_published_under_a_known_kid_does_not_replace_it() {
    let platform = Platform::start(&[]).await;
    let real = platform.signed_in("ada@example.com", "buyer").await;
    let (forged, forged_token) = forged_under(&kid_of(&real));
    let partition = publish(&platform, &forged).await;
    read_past(&platform, partition).await;
    assert_eq!(
        platform
            .call("GET", "/api/me", Some(&real), None)
            .await
            .status,
        200,
        "auth's key still verifies its tokens"
    );
    assert!(!verifies(&platform, &forged_token).await);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tombstone_on_auth_keys_revokes_its_key_even_when_the_key_is_published_again() {
    let platform = Platform::start(&[]).await;
    let real = platform.signed_in("ada@example.com", "buyer").await;
    assert!(verifies(&platform, &real).await);
    let kid = kid_of(&real);
    let topic = platform.bed.kafka.topics.name(Topic::AuthKeys);
    let publisher = Publisher::new(&platform.bed.kafka).unwrap();
    publisher
        .send_tombstone(&topic, kid.as_bytes())
        .await
        .unwrap();
    eventually(
        "the token stops verifying",
        Duration::from_secs(30),
        || async { !verifies(&platform, &real).await },
    )
    .await;

    // Auth's key, published again after the tombstone (as an older auth would at its
    // next start), stays revoked.
    let public_key: String = sqlx::query_scalar("SELECT public_key FROM signing_keys")
        .fetch_one(&platform.bed.pool)
        .await
        .unwrap();
    let again = SigningKeyPublished {
        kid: kid.clone(),
        algorithm: "EdDSA".into(),
        public_key,
        created_at: chrono::Utc::now(),
    };
    let partition = publish(&platform, &again).await;
    read_past(&platform, partition).await;
    assert!(!verifies(&platform, &real).await);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_in_auths_database_is_withdrawn_at_its_next_start_and_replaced() {
    let mut platform = Platform::start(&[]).await;
    let before = platform.signed_in("ada@example.com", "buyer").await;
    let old_kid = kid_of(&before);
    sqlx::query("UPDATE signing_keys SET revoked_at = now() WHERE kid = $1")
        .bind(&old_kid)
        .execute(&platform.bed.pool)
        .await
        .unwrap();
    platform.auth.take().expect("auth runs").stop().await;
    let auth =
        ServiceProcess::start(testkit::service_binary("auth"), &platform.bed.service_env()).await;
    platform.auth = Some(auth);
    eventually(
        "the revoked key's token stops verifying",
        Duration::from_secs(30),
        || async { !verifies(&platform, &before).await },
    )
    .await;
    let login = platform
        .login("ada@example.com", "correct horse battery")
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let after = login.json()["token"].as_str().unwrap().to_string();
    assert_ne!(kid_of(&after), old_kid, "auth signs with a new key");
    eventually(
        "the new key's token verifies",
        Duration::from_secs(30),
        || verifies(&platform, &after),
    )
    .await;
    platform.stop().await;
}
