//! The platform as the end-to-end tests run it: the real gateway and auth binaries on
//! the real broker and PostgreSQL, with the test's own topics and database.

#![allow(dead_code)] // each test file uses its own part of this

use std::time::Duration;

use kafka_runtime::admin::create_platform_topics;
use kafka_runtime::testkit::{http_call, service_binary, HttpAnswer, ServiceProcess, TestBed};
use serde_json::{json, Value};

/// The gateway and auth, running.
pub struct Platform {
    pub bed: TestBed,
    pub auth: Option<ServiceProcess>,
    pub gateway: ServiceProcess,
}

impl Platform {
    /// Starts auth, then the gateway with `gateway_env` on top of the defaults.
    pub async fn start(gateway_env: &[(&'static str, &str)]) -> Self {
        Self::start_with(&[], gateway_env).await
    }

    /// Starts auth with `auth_env`, then the gateway with `gateway_env`.
    pub async fn start_with(
        auth_env: &[(&'static str, &str)],
        gateway_env: &[(&'static str, &str)],
    ) -> Self {
        let bed = TestBed::new().await;
        create_platform_topics(&bed.kafka, 2).await.expect("topics");
        let mut env = bed.service_env();
        env.extend(auth_env.iter().map(|(k, v)| (*k, v.to_string())));
        let auth = ServiceProcess::start(service_binary("auth"), &env).await;
        let mut env = bed.service_env();
        env.push(("BCRYPT_COST", "4".into()));
        env.extend(gateway_env.iter().map(|(k, v)| (*k, v.to_string())));
        let gateway = ServiceProcess::start(env!("CARGO_BIN_EXE_gateway"), &env).await;
        Self {
            bed,
            auth: Some(auth),
            gateway,
        }
    }

    /// A request to the gateway; `token` becomes a bearer header.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> HttpAnswer {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(bearer) = &bearer {
            headers.push(("Authorization", bearer.as_str()));
        }
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        http_call(self.gateway.port, method, path, &headers, body.as_bytes()).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> HttpAnswer {
        self.call("POST", path, None, Some(body)).await
    }

    /// The outcome of a command, waiting up to 20 s for it.
    pub async fn outcome(&self, location: &str, token: Option<&str>) -> Value {
        self.call("GET", &format!("{location}?wait=20"), token, None)
            .await
            .json()
    }

    /// Registers a user and waits until the registration succeeded; the user's id.
    pub async fn register(&self, email: &str, password: &str, role: &str) -> String {
        let answer = self
            .post(
                "/api/auth/register",
                json!({ "email": email, "password": password, "name": "Test", "role": role }),
            )
            .await;
        assert_eq!(answer.status, 202, "{}", answer.body);
        let outcome = self.outcome(&answer.headers["location"], None).await;
        assert_eq!(outcome["status"], "succeeded", "{outcome}");
        answer.json()["userId"].as_str().unwrap().to_string()
    }

    /// Logs in; the answer as it came.
    pub async fn login(&self, email: &str, password: &str) -> HttpAnswer {
        self.post(
            "/api/auth/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers and logs in; the token.
    pub async fn signed_in(&self, email: &str, role: &str) -> String {
        self.register(email, "correct horse battery", role).await;
        let answer = self.login(email, "correct horse battery").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["token"].as_str().unwrap().to_string()
    }

    /// Stops every process cleanly.
    pub async fn stop(self) {
        self.gateway.stop().await;
        if let Some(auth) = self.auth {
            auth.stop().await;
        }
    }
}

/// How long the slowest expected answer may take.
pub const PATIENCE: Duration = Duration::from_secs(30);
