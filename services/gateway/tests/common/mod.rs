//! The platform as the end-to-end tests run it: the real gateway and service binaries
//! on the real broker, PostgreSQL and MongoDB-protocol server, with the test's own
//! topics and databases.

#![allow(dead_code)] // each test file uses its own part of this

use std::time::Duration;

use kafka_runtime::admin::create_platform_topics;
use serde_json::{json, Value};
use sqlx::PgPool;
use testkit::{eventually, http_call, service_binary, HttpAnswer, ServiceProcess, TestBed};

/// The gateway and auth, running; with [`Platform::commerce`], catalog, inventory, order,
/// payment and cart too.
pub struct Platform {
    pub bed: TestBed,
    pub auth: Option<ServiceProcess>,
    /// The environment auth runs with.
    pub auth_env: Vec<(&'static str, String)>,
    pub gateway: ServiceProcess,
    /// Catalog, inventory, order, payment and cart, when started: name, environment,
    /// process.
    pub others: Vec<Service>,
    /// The PostgreSQL databases of inventory, order and payment, when they run.
    pub databases: Vec<(&'static str, PgPool)>,
    /// Further instances of services, in the same consumer groups as the first
    /// ([`Platform::start_instance`]): name and process, each on its own port.
    pub extra: Vec<(&'static str, ServiceProcess)>,
    /// The cart's MongoDB database, when the cart runs.
    pub carts: Option<mongodb::Database>,
}

pub mod invariants;
pub mod sse;

/// A shipping address every test order goes to.
pub fn address() -> Value {
    serde_json::to_value(testkit::shipping_address()).expect("an address serializes")
}

/// Places an order of `(productId, quantity)` lines with `tok_visa` through the gateway
/// on `port`, as a load generator would (no shared client, so any task can call it):
/// its id when accepted with 202, else `None` with the answer printed.
pub async fn place_order(port: u16, buyer: &str, lines: &[(String, i64)]) -> Option<String> {
    let items: Vec<Value> = lines
        .iter()
        .map(|(product, quantity)| json!({ "productId": product, "quantity": quantity }))
        .collect();
    let body = json!({ "items": items, "paymentToken": "tok_visa", "shippingAddress": address() })
        .to_string();
    let bearer = format!("Bearer {buyer}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let answer = http_call(port, "POST", "/api/orders", &headers, body.as_bytes()).await;
    if answer.status != 202 {
        eprintln!("order not accepted: {} {}", answer.status, answer.body);
        return None;
    }
    answer.json()["orderId"].as_str().map(str::to_owned)
}

/// A service of [`Platform::commerce`]: its name, environment and process while it runs.
pub type Service = (
    &'static str,
    Vec<(&'static str, String)>,
    Option<ServiceProcess>,
);

/// The first admin's credentials in [`Platform::commerce`].
pub const ADMIN: (&str, &str) = ("admin@example.com", "admin password 1");

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
        Self::start_on(2, auth_env, gateway_env).await
    }

    /// [`Platform::start_with`] on topics of `partitions` partitions each.
    pub async fn start_on(
        partitions: i32,
        auth_env: &[(&'static str, &str)],
        gateway_env: &[(&'static str, &str)],
    ) -> Self {
        Self::start_on_bed(TestBed::new().await, partitions, auth_env, gateway_env).await
    }

    /// [`Platform::start_on`] with the caller's test bed: one on a cluster of its own.
    pub async fn start_on_bed(
        bed: TestBed,
        partitions: i32,
        auth_env: &[(&'static str, &str)],
        gateway_env: &[(&'static str, &str)],
    ) -> Self {
        create_platform_topics(&bed.kafka, partitions)
            .await
            .expect("topics");
        let mut env = bed.service_env();
        env.extend(auth_env.iter().map(|(k, v)| (*k, v.to_string())));
        let auth = ServiceProcess::start(service_binary("auth"), &env).await;
        let gateway = Self::gateway_on(&bed, gateway_env).await;
        Self {
            bed,
            auth: Some(auth),
            auth_env: env,
            gateway,
            others: Vec::new(),
            databases: Vec::new(),
            extra: Vec::new(),
            carts: None,
        }
    }

    /// Another gateway instance on the platform's topics, with `env` on top of the
    /// defaults.
    pub async fn gateway_on(bed: &TestBed, env: &[(&'static str, &str)]) -> ServiceProcess {
        let mut all = bed.service_env();
        all.push(("BCRYPT_COST", "4".into()));
        // Tests register many users from one address; the limit has a test of its own.
        all.push(("REGISTRATION_ATTEMPTS_PER_MINUTE", "100000".into()));
        all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        ServiceProcess::start(env!("CARGO_BIN_EXE_gateway"), &all).await
    }

    /// Auth (with the first admin [`ADMIN`]), catalog, inventory, order, payment and
    /// the gateway. Payment retries the provider quickly (10 ms, doubling).
    pub async fn commerce() -> Self {
        Self::commerce_with(&[]).await
    }

    /// [`Platform::commerce`] with `(service, variable, value)` added to the services'
    /// environments (`gateway` included).
    pub async fn commerce_with(settings: &[(&str, &'static str, &str)]) -> Self {
        Self::commerce_on(2, settings).await
    }

    /// [`Platform::commerce_with`] on topics of `partitions` partitions each (as many
    /// instances of a service as partitions can share the work).
    pub async fn commerce_on(partitions: i32, settings: &[(&str, &'static str, &str)]) -> Self {
        Self::commerce_on_bed(TestBed::new().await, partitions, settings).await
    }

    /// [`Platform::commerce_on`] with the caller's test bed: one on a cluster of its own.
    pub async fn commerce_on_bed(
        bed: TestBed,
        partitions: i32,
        settings: &[(&str, &'static str, &str)],
    ) -> Self {
        let admin = [("ADMIN_EMAIL", ADMIN.0), ("ADMIN_PASSWORD", ADMIN.1)];
        let gateway_env: Vec<(&'static str, &str)> = settings
            .iter()
            .filter(|(service, ..)| *service == "gateway")
            .map(|(_, key, value)| (*key, *value))
            .collect();
        let mut platform = Self::start_on_bed(bed, partitions, &admin, &gateway_env).await;
        platform
            .others
            .push(("catalog", platform.bed.service_env(), None));
        // The cart keeps its own MongoDB database, as in every deployment: its product
        // view and its inbox must not share the catalog's collections.
        let mut cart_env = platform.bed.service_env();
        for (key, value) in &mut cart_env {
            if *key == "MONGODB_URI" {
                value.push_str("_cart");
                let client = mongodb::Client::with_uri_str(value.as_str()).await;
                let client = client.expect("a MongoDB URI");
                platform.carts = client.default_database();
            }
        }
        platform.others.push(("cart", cart_env, None));
        for name in ["inventory", "order", "payment"] {
            let (url, pool) = platform.bed.database(name).await;
            let mut env = platform.bed.service_env();
            env.retain(|(key, _)| *key != "DATABASE_URL");
            env.push(("DATABASE_URL", url));
            platform.others.push((name, env, None));
            platform.databases.push((name, pool));
        }
        for (name, env, _) in &mut platform.others {
            for (_, key, value) in settings.iter().filter(|(service, ..)| service == name) {
                env.retain(|(k, _)| k != key);
                env.push((key, value.to_string()));
            }
        }
        for name in ["catalog", "inventory", "order", "payment", "cart"] {
            platform.start_service(name).await;
        }
        platform
    }

    /// The environment and process slot of auth or of a service of
    /// [`Platform::commerce`].
    fn service(&mut self, name: &str) -> (&[(&'static str, String)], &mut Option<ServiceProcess>) {
        if name == "auth" {
            return (&self.auth_env, &mut self.auth);
        }
        let (_, env, process) = self
            .others
            .iter_mut()
            .find(|(n, ..)| *n == name)
            .expect("a service");
        (env, process)
    }

    /// Starts a stopped service of [`Platform::commerce`] again.
    pub async fn start_service(&mut self, name: &str) {
        let (env, process) = self.service(name);
        assert!(process.is_none(), "{name} is running");
        *process = Some(ServiceProcess::start(service_binary(name), env).await);
    }

    /// Stops a service of [`Platform::commerce`] cleanly.
    pub async fn stop_service(&mut self, name: &str) {
        let (_, process) = self.service(name);
        process.take().expect("running").stop().await;
    }

    /// Kills a service with SIGKILL, as a crash would, and starts it again without
    /// waiting for it (see [`Platform::all_ready`]): auth or a service of
    /// [`Platform::commerce`].
    pub async fn crash_and_restart(&mut self, name: &str) {
        let (env, process) = self.service(name);
        process.take().expect("running").kill().await;
        *process = Some(ServiceProcess::launch(service_binary(name), env));
    }

    /// Starts another instance of a service of [`Platform::commerce`] with the same
    /// environment, so in the same consumer groups, on a port of its own; waits until it
    /// is ready (it has joined its groups) and returns its port.
    pub async fn start_instance(&mut self, name: &'static str) -> u16 {
        let (env, _) = self.service(name);
        let process = ServiceProcess::start(service_binary(name), env).await;
        let port = process.port;
        self.extra.push((name, process));
        port
    }

    /// The port of the first instance of a service, while it runs.
    pub fn port_of(&mut self, name: &str) -> u16 {
        let (_, process) = self.service(name);
        process.as_ref().expect("running").port
    }

    /// Kills the first instance of a service with SIGKILL, as a crash would, and leaves
    /// it dead: its other instances must take over.
    pub async fn kill_service(&mut self, name: &str) {
        let (_, process) = self.service(name);
        process.take().expect("running").kill().await;
    }

    /// Waits until auth and every service of [`Platform::commerce`] is ready, further
    /// instances included.
    pub async fn all_ready(&mut self) {
        let others = self.others.iter_mut().filter_map(|(_, _, p)| p.as_mut());
        let extra = self.extra.iter_mut().map(|(_, p)| p);
        for process in self.auth.iter_mut().chain(others).chain(extra) {
            process.ready().await;
        }
    }

    /// A service's database.
    pub fn db(&self, name: &str) -> &PgPool {
        &self
            .databases
            .iter()
            .find(|(n, _)| *n == name)
            .expect("started with Platform::commerce")
            .1
    }

    /// Logs in as the first admin; the token.
    pub async fn admin(&self) -> String {
        let answer = self.login(ADMIN.0, ADMIN.1).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["token"].as_str().unwrap().to_string()
    }

    /// Sends a command and waits for its outcome, which must be `status`; the 202 body.
    pub async fn command(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        status: &str,
    ) -> Value {
        let answer = self.call(method, path, Some(token), body).await;
        assert_eq!(answer.status, 202, "{method} {path}: {}", answer.body);
        let accepted = answer.json();
        let location = format!("/api/commands/{}", accepted["commandId"].as_str().unwrap());
        let outcome = self.outcome(&location, Some(token)).await;
        assert_eq!(outcome["status"], status, "{method} {path}: {outcome}");
        accepted
    }

    /// Lists a product for the seller of `token` and waits until it succeeded; its id.
    pub async fn create_product(&self, token: &str, product: Value) -> String {
        let accepted = self
            .command("POST", "/api/products", token, Some(product), "succeeded")
            .await;
        accepted["productId"].as_str().unwrap().to_string()
    }

    /// The load tests' fixture: a seller's product with `stock` units, shown in the
    /// catalog, and `buyers` signed-in buyers' tokens.
    pub async fn plenty_for_buyers(&self, stock: i64, buyers: usize) -> (String, Vec<String>) {
        let seller = self.signed_in("seller@example.com", "seller").await;
        let body = json!({
            "sku": "PLENTY-1", "name": "Plenty", "category": "kitchen",
            "priceCents": 500, "currency": "EUR", "initialStock": stock
        });
        let product = self.create_product(&seller, body).await;
        self.await_stock(&product, stock).await;
        let mut tokens = Vec::new();
        for n in 0..buyers {
            let email = format!("buyer{n}@example.com");
            tokens.push(self.signed_in(&email, "buyer").await);
        }
        (product, tokens)
    }

    /// Waits until the product's `availableStock` is `units` (inventory's report reached
    /// the catalog) and the order service and the cart, where they run, know the product:
    /// each reads `product_created` on its own, so that inventory and the catalog have it
    /// says nothing of when they do.
    pub async fn await_stock(&self, product_id: &str, units: i64) {
        let path = format!("/api/products/{product_id}");
        let mut last = Value::Null;
        for _ in 0..600 {
            last = self.call("GET", &path, None, None).await.json();
            if last["availableStock"] == units {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            last["availableStock"], units,
            "availableStock never became {units}: {last}"
        );
        let id: uuid::Uuid = product_id.parse().expect("a product id");
        if let Some((_, orders)) = self.databases.iter().find(|(name, _)| *name == "order") {
            eventually(
                "the order service knows the product",
                Duration::from_secs(30),
                || async {
                    sqlx::query_scalar::<_, i64>(
                        "SELECT count(*) FROM products WHERE product_id = $1",
                    )
                    .bind(id)
                    .fetch_one(orders)
                    .await
                    .unwrap()
                        == 1
                },
            )
            .await;
        }
        if let Some(carts) = &self.carts {
            let products = carts.collection::<mongodb::bson::Document>("products");
            eventually(
                "the cart knows the product",
                Duration::from_secs(30),
                || async {
                    let filter = mongodb::bson::doc! { "_id": product_id };
                    products.count_documents(filter).await.unwrap() == 1
                },
            )
            .await;
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

    /// A signed-in request with extra headers.
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: &str,
        extra: &[(&str, &str)],
        body: Option<Value>,
    ) -> HttpAnswer {
        let bearer = format!("Bearer {token}");
        let mut headers = vec![("Authorization", bearer.as_str())];
        headers.extend_from_slice(extra);
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

    /// Waits until the order leaves PENDING; the order as `token`'s user reads it.
    pub async fn settled(&self, token: &str, order_id: &str) -> Value {
        let path = format!("/api/orders/{order_id}");
        for _ in 0..600 {
            let answer = self.call("GET", &path, Some(token), None).await;
            if answer.status == 200 && answer.json()["status"] != "PENDING" {
                return answer.json();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("order {order_id} never left PENDING");
    }

    /// The user id of `token`'s user, from `/api/me`.
    pub async fn user_id(&self, token: &str) -> uuid::Uuid {
        let me = self.call("GET", "/api/me", Some(token), None).await.json();
        me["userId"]
            .as_str()
            .expect("a userId")
            .parse()
            .expect("a UUID")
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

    /// The reply on `gateway.replies` caused by message `id`, waiting up to 30 s for it.
    pub async fn reply_to(&self, id: uuid::Uuid) -> Value {
        let replies = self
            .bed
            .kafka
            .topics
            .name(shared_events::Topic::GatewayReplies);
        for _ in 0..15 {
            let read = self
                .bed
                .read(&replies, usize::MAX, Duration::from_secs(2), Duration::ZERO)
                .await;
            let found = read
                .iter()
                .map(|m| serde_json::from_slice::<Value>(&m.payload).expect("JSON"))
                .find(|reply| reply["causationId"] == id.to_string());
            if let Some(reply) = found {
                return reply;
            }
        }
        panic!("no reply to {id}");
    }

    /// Stops every process cleanly.
    pub async fn stop(self) {
        self.gateway.stop().await;
        for (_, process) in self.extra {
            process.stop().await;
        }
        for (_, _, process) in self.others {
            if let Some(process) = process {
                process.stop().await;
            }
        }
        if let Some(auth) = self.auth {
            auth.stop().await;
        }
    }
}
