//! The platform as the load generator sees it: an HTTP gateway, with users and products
//! made through it like any client would.

use std::time::Duration;

use reqwest::Client;
use serde_json::{json, Value};

/// A gateway and what the run made on it.
#[derive(Clone)]
pub struct Gateway {
    /// HTTP client (keep-alive connections).
    pub client: Client,
    /// `http://host:port`.
    pub base: String,
}

/// What one request answered.
pub struct Answer {
    /// HTTP status; 0 when the request failed before one.
    pub status: u16,
    /// The JSON body, or null.
    pub body: Value,
}

impl Gateway {
    /// A client for the gateway at `base`.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(512)
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// Sends a request with an optional token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let bytes = response.bytes().await.unwrap_or_default();
                Answer {
                    status,
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                }
            }
            Err(_) => Answer {
                status: 0,
                body: Value::Null,
            },
        }
    }

    /// Registers a user and waits for the outcome, then logs in; the token and user id.
    pub async fn user(&self, email: &str, role: &str) -> anyhow::Result<(String, String)> {
        let password = "bench password 1";
        let body = json!({ "email": email, "password": password, "name": "Bench", "role": role });
        let mut registered = self
            .call("POST", "/api/auth/register", None, Some(&body))
            .await;
        while registered.status == 503 && registered.body["error"]["code"] == "busy" {
            // The gateway sheds registrations beyond its hashing capacity: come back.
            tokio::time::sleep(Duration::from_secs(1)).await;
            registered = self
                .call("POST", "/api/auth/register", None, Some(&body))
                .await;
        }
        anyhow::ensure!(
            registered.status == 202,
            "register answered {}: {}",
            registered.status,
            registered.body
        );
        let command = registered.body["commandId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let outcome = self
            .call(
                "GET",
                &format!("/api/commands/{command}?wait=20"),
                None,
                None,
            )
            .await;
        anyhow::ensure!(
            outcome.body["status"] == "succeeded",
            "registration {}",
            outcome.body
        );
        let login = json!({ "email": email, "password": password });
        let session = self
            .call("POST", "/api/auth/login", None, Some(&login))
            .await;
        anyhow::ensure!(
            session.status == 200,
            "login answered {}: {}",
            session.status,
            session.body
        );
        let token = session.body["token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let user_id = session.body["user"]["userId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok((token, user_id))
    }

    /// Lists a product with `stock` units and waits until its stock is readable.
    pub async fn product(&self, seller: &str, sku: &str, stock: u64) -> anyhow::Result<String> {
        let body = json!({
            "sku": sku, "name": format!("Bench {sku}"), "category": "bench",
            "priceCents": 999, "currency": "EUR", "initialStock": stock
        });
        let created = self
            .call("POST", "/api/products", Some(seller), Some(&body))
            .await;
        anyhow::ensure!(
            created.status == 202,
            "create answered {}: {}",
            created.status,
            created.body
        );
        let product_id = created.body["productId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for _ in 0..300 {
            let shown = self
                .call("GET", &format!("/api/products/{product_id}"), None, None)
                .await;
            if shown.body["availableStock"].as_u64() == Some(stock) {
                return Ok(product_id);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("product {sku} never showed its stock")
    }
}
