//! Login, tokens and `/api/me` end to end: the real gateway and auth binaries, the real
//! broker and PostgreSQL.

mod common;

use auth::keys::SigningKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::Platform;
use shared_events::messages::auth::Claims;
use shared_events::Role;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_user_logs_in_and_me_answers_with_their_profile() {
    let platform = Platform::start(&[]).await;
    let user_id = platform
        .register("Lin@Example.com", PASSWORD, "seller")
        .await;

    let login = platform.login("lin@example.COM", PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let session = login.json();
    assert_eq!(session["tokenType"], "Bearer");
    assert_eq!(session["expiresIn"], 3600);
    assert_eq!(session["user"]["userId"], user_id.as_str());
    assert_eq!(session["user"]["role"], "seller");
    assert!(
        session["user"].get("passwordHash").is_none(),
        "no hash in answers"
    );

    let token = session["token"].as_str().unwrap();
    let me = platform.call("GET", "/api/me", Some(token), None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(me["userId"], user_id.as_str());
    assert_eq!(me["email"], "lin@example.com");
    assert_eq!(me["name"], "Test");

    let anonymous = platform.call("GET", "/api/me", None, None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.headers["www-authenticate"], "Bearer");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_401_and_repeated_failures_are_429_even_for_the_right_one() {
    let platform = Platform::start(&[("LOGIN_FAILURES_PER_MINUTE", "3")]).await;
    platform.register("mo@example.com", PASSWORD, "buyer").await;
    for attempt in 1..=3 {
        let wrong = platform.login("mo@example.com", "not the password").await;
        assert_eq!(wrong.status, 401, "attempt {attempt}: {}", wrong.body);
        assert_eq!(wrong.json()["error"]["code"], "unauthorized");
    }
    let unknown = platform.login("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status, 401, "an unknown email is the same 401");

    let limited = platform.login("mo@example.com", PASSWORD).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    let retry_after: u64 = limited.headers["retry-after"].parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(limited.json()["error"]["code"], "rate_limited");

    let other = platform.login("nobody@example.com", "whatever1").await;
    assert_eq!(other.status, 401, "other emails are not blocked");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_login_starts_the_email_over() {
    let platform = Platform::start(&[("LOGIN_FAILURES_PER_MINUTE", "3")]).await;
    platform
        .register("ida@example.com", PASSWORD, "buyer")
        .await;
    for round in 1..=3 {
        for _ in 0..2 {
            let wrong = platform.login("ida@example.com", "not the password").await;
            assert_eq!(wrong.status, 401, "round {round}: {}", wrong.body);
        }
        let right = platform.login("ida@example.com", PASSWORD).await;
        assert_eq!(right.status, 200, "round {round}: {}", right.body);
    }
    for _ in 0..3 {
        platform.login("ida@example.com", "not the password").await;
    }
    let limited = platform.login("ida@example.com", PASSWORD).await;
    assert_eq!(
        limited.status, 429,
        "the count still runs: {}",
        limited.body
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_per_client_address_are_limited() {
    let platform = Platform::start(&[("LOGIN_ATTEMPTS_PER_MINUTE", "4")]).await;
    for n in 0..4 {
        let answer = platform
            .login(&format!("guess{n}@example.com"), "whatever1")
            .await;
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    let limited = platform.login("guess9@example.com", "whatever1").await;
    assert_eq!(limited.status, 429);
    assert!(limited.headers.contains_key("retry-after"));
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_forged_and_unsigned_tokens_are_401() {
    let platform = Platform::start(&[]).await;
    let user_id: Uuid = platform
        .register("eve@example.com", PASSWORD, "buyer")
        .await
        .parse()
        .unwrap();
    let (pkcs8, created_at): (Vec<u8>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT private_key, created_at FROM signing_keys")
            .fetch_one(&platform.bed.pool)
            .await
            .expect("auth generated a key at start");
    let real_key = SigningKey::from_pkcs8(&pkcs8, created_at).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| Claims {
        sub: user_id,
        role: Role::Buyer,
        iss: Claims::ISSUER.into(),
        aud: Claims::AUDIENCE.into(),
        iat: now - 7200,
        exp,
    };
    let valid = real_key.sign(&claims(now + 600)).unwrap();
    let me = platform.call("GET", "/api/me", Some(&valid), None).await;
    assert_eq!(me.status, 200, "the real key's token works: {}", me.body);

    let expired = real_key.sign(&claims(now - 60)).unwrap();
    let (forger, _) = SigningKey::generate().unwrap();
    let forged = forger.sign(&claims(now + 600)).unwrap();
    let header = format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, real_key.kid());
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now + 600)).unwrap())
    );
    for (what, token) in [
        ("expired", expired.as_str()),
        ("forged", &forged),
        ("alg=none", &unsigned),
        ("garbage", "not.a.token"),
    ] {
        let answer = platform.call("GET", "/api/me", Some(token), None).await;
        assert_eq!(answer.status, 401, "{what} token: {}", answer.body);
    }
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_comes_from_the_environment() {
    let platform = Platform::start_with(
        &[
            ("ADMIN_EMAIL", "root@example.com"),
            ("ADMIN_PASSWORD", "admin password 1"),
        ],
        &[],
    )
    .await;
    let login = platform.login("root@example.com", "admin password 1").await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.json()["user"]["role"], "admin");
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin'")
        .fetch_one(&platform.bed.pool)
        .await
        .unwrap();
    assert_eq!(admins, 1);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_nobody_answers_is_504() {
    let mut platform = Platform::start(&[("REQUEST_TIMEOUT_MS", "1500")]).await;
    platform.auth.take().unwrap().stop().await;
    let answer = platform.login("ghost@example.com", PASSWORD).await;
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert_eq!(answer.json()["error"]["code"], "timeout");
    platform.stop().await;
}
