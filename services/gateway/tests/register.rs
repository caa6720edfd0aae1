//! Registration end to end: the real gateway and auth binaries, the real broker and
//! PostgreSQL.

mod common;

use common::Platform;
use serde_json::json;
use testkit::http_request;

fn registration(email: &str) -> serde_json::Value {
    json!({ "email": email, "password": "correct horse battery", "name": "Ada", "role": "seller" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_answers_202_with_a_location_whose_outcome_succeeds() {
    let platform = Platform::start(&[]).await;
    let answer = platform
        .post("/api/auth/register", registration("ada@example.com"))
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(
        answer.headers["x-request-id"].len(),
        36,
        "every response carries a request id"
    );
    let body = answer.json();
    let location = answer.headers["location"].clone();
    assert_eq!(
        location,
        format!("/api/commands/{}", body["commandId"].as_str().unwrap())
    );

    let outcome = platform.outcome(&location, None).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    let (email, hash): (String, String) =
        sqlx::query_as("SELECT email, password_hash FROM users WHERE user_id = $1::uuid")
            .bind(body["userId"].as_str().unwrap())
            .fetch_one(&platform.bed.pool)
            .await
            .expect("stored");
    assert_eq!(email, "ada@example.com");
    assert!(
        bcrypt::verify("correct horse battery", &hash).unwrap(),
        "the stored hash is of the password"
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_email_in_another_letter_case_is_a_failed_outcome() {
    let platform = Platform::start(&[]).await;
    let first = platform
        .post("/api/auth/register", registration("grace@example.com"))
        .await;
    assert_eq!(
        platform.outcome(&first.headers["location"], None).await["status"],
        "succeeded"
    );
    let second = platform
        .post("/api/auth/register", registration("Grace@EXAMPLE.com"))
        .await;
    assert_eq!(second.status, 202);
    let outcome = platform.outcome(&second.headers["location"], None).await;
    assert_eq!(outcome["status"], "failed");
    assert_eq!(outcome["error"]["code"], "email_taken");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_contract_errors() {
    let platform = Platform::start(&[]).await;
    let admin = platform
        .post("/api/auth/register", json!({ "email": "root@example.com", "password": "long enough", "name": "R", "role": "admin" }))
        .await;
    assert_eq!(admin.status, 400);
    assert_eq!(
        admin.json()["error"]["details"]["role"],
        "must be buyer or seller"
    );

    let malformed = http_request(
        platform.gateway.port,
        "POST",
        "/api/auth/register",
        Some("application/json"),
        b"{not json",
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["error"]["code"], "malformed_json");

    let form = http_request(
        platform.gateway.port,
        "POST",
        "/api/auth/register",
        Some("text/plain"),
        b"email=a",
    )
    .await;
    assert_eq!(form.status, 415);
    assert!(
        form.headers.contains_key("x-request-id"),
        "errors carry a request id too"
    );
    assert_eq!(form.json()["error"]["code"], "unsupported_media_type");

    let huge = json!({ "email": "a@b.io", "password": "x".repeat(70 * 1024), "name": "A" });
    let too_large = platform.post("/api/auth/register", huge).await;
    assert_eq!(too_large.status, 413);

    let unknown = http_request(
        platform.gateway.port,
        "GET",
        &format!("/api/commands/{}", uuid::Uuid::new_v4()),
        None,
        b"",
    )
    .await;
    assert_eq!(unknown.status, 200, "{}", unknown.body);
    assert_eq!(
        unknown.json()["status"],
        "pending",
        "a command no reply named yet may still be on its way"
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&platform.bed.pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_beyond_the_hashing_capacity_are_shed_with_503_and_retry_after() {
    let platform = Platform::start(&[
        ("BCRYPT_COST", "12"),
        ("HASHING_CONCURRENCY", "1"),
        ("HASHING_QUEUE_MS", "50"),
    ])
    .await;
    let attempts = (0..6).map(|n| {
        let platform = &platform;
        async move {
            let body = serde_json::json!({
                "email": format!("burst{n}@example.com"), "password": "correct horse battery", "name": "Burst"
            });
            platform.post("/api/auth/register", body).await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let shed: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(answers.iter().any(|a| a.status == 202), "some are accepted");
    assert!(
        !shed.is_empty(),
        "one hashing slot cannot take six at once within 50 ms"
    );
    for answer in shed {
        assert_eq!(answer.json()["error"]["code"], "busy");
        assert_eq!(answer.headers["retry-after"], "1");
    }
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_per_client_address_are_limited_with_429_and_retry_after() {
    let platform = Platform::start(&[("REGISTRATION_ATTEMPTS_PER_MINUTE", "3")]).await;
    let mut accepted = Vec::new();
    for n in 0..3 {
        let answer = platform
            .post(
                "/api/auth/register",
                registration(&format!("many{n}@example.com")),
            )
            .await;
        assert_eq!(answer.status, 202, "{}", answer.body);
        accepted.push(answer.headers["location"].clone());
    }
    let limited = platform
        .post("/api/auth/register", registration("many9@example.com"))
        .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.json()["error"]["code"], "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"].parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    for location in &accepted {
        assert_eq!(
            platform.outcome(location, None).await["status"],
            "succeeded"
        );
    }
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT email FROM users WHERE email LIKE 'many%' ORDER BY email")
            .fetch_all(&platform.bed.pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        [
            "many0@example.com",
            "many1@example.com",
            "many2@example.com"
        ],
        "the refused registration made no user"
    );
    platform.stop().await;
}
