//! Registration through `auth.commands`, against the real broker and PostgreSQL.

use std::time::Duration;

use kafka_runtime::admin::create_platform_topics;
use shared_events::messages::auth::RegisterUser;
use shared_events::messages::reply::{CommandOutcome, Reply, ReplyCode};
use shared_events::{derive_id, Envelope, Message, Role, Topic};
use testkit::{eventually, RunningConsumer, TestBed};
use uuid::Uuid;

const HASH: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
const WAIT: Duration = Duration::from_secs(60);

struct Auth {
    bed: TestBed,
    consumer: RunningConsumer,
}

impl Auth {
    async fn start() -> Self {
        let bed = TestBed::new().await;
        create_platform_topics(&bed.kafka, 1).await.expect("topics");
        auth::migrate(&bed.pool).await.expect("migrations");
        let processor = auth::processor(bed.pool.clone(), bed.kafka.topics.clone());
        let commands = bed.kafka.topics.name(Topic::AuthCommands);
        let consumer =
            RunningConsumer::start(&bed.kafka, "auth", "auth", vec![commands], processor);
        Self { bed, consumer }
    }

    fn command(&self, email: &str, role: Role) -> Envelope<RegisterUser> {
        let data = RegisterUser {
            user_id: Uuid::new_v4(),
            email: email.into(),
            name: "Ada Lovelace".into(),
            role,
            password_hash: HASH.into(),
        };
        Envelope::new(data, Uuid::new_v4(), None)
            .with_reply_to(self.bed.kafka.topics.name(Topic::GatewayReplies))
    }

    async fn send(&self, command: &Envelope<RegisterUser>) {
        let topic = self.bed.kafka.topics.name(Topic::AuthCommands);
        let key = command.data.user_id.to_string();
        self.bed.produce(&topic, &key, &command.to_json()).await;
    }

    async fn read(&self, topic: Topic, count: usize) -> Vec<serde_json::Value> {
        let name = self.bed.kafka.topics.name(topic);
        self.bed
            .read(&name, count, WAIT, Duration::from_secs(2))
            .await
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).expect("json"))
            .collect()
    }

    async fn users(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.bed.pool)
            .await
            .expect("count")
    }
}

fn reply(value: &serde_json::Value) -> Reply {
    serde_json::from_value(value["data"].clone()).expect("a reply")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_stores_the_user_announces_it_without_the_hash_and_replies() {
    let auth = Auth::start().await;
    let command = auth.command("Ada@Example.com", Role::Seller);
    auth.send(&command).await;

    let replies = auth.read(Topic::GatewayReplies, 1).await;
    assert_eq!(replies.len(), 1);
    let outcome = reply(&replies[0]);
    assert!(outcome.ok);
    assert_eq!(outcome.correlation_id, command.correlation_id);
    assert_eq!(
        outcome.outcome().expect("a registration's outcome"),
        CommandOutcome::User {
            user_id: command.data.user_id
        }
    );

    let events = auth.read(Topic::AuthEvents, 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "auth.user_registered");
    assert_eq!(
        events[0]["id"],
        derive_id(command.id, "auth.user_registered").to_string()
    );
    assert_eq!(events[0]["data"]["email"], "ada@example.com");
    assert!(
        !events[0].to_string().contains(HASH),
        "the hash stays in auth's database"
    );

    let (email, role): (String, String) =
        sqlx::query_as("SELECT email, role FROM users WHERE user_id = $1")
            .bind(command.data.user_id)
            .fetch_one(&auth.bed.pool)
            .await
            .expect("stored");
    assert_eq!(
        (email.as_str(), role.as_str()),
        ("ada@example.com", "seller")
    );
    auth.consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_email_in_any_letter_case_is_a_failed_outcome() {
    let auth = Auth::start().await;
    auth.send(&auth.command("grace@example.com", Role::Buyer))
        .await;
    let second = auth.command("GRACE@Example.COM", Role::Buyer);
    auth.send(&second).await;

    let replies = auth.read(Topic::GatewayReplies, 2).await;
    assert_eq!(replies.len(), 2);
    let failed = replies
        .iter()
        .map(reply)
        .find(|r| r.correlation_id == second.correlation_id)
        .expect("second outcome");
    assert!(!failed.ok);
    assert_eq!(failed.error.expect("error").code, ReplyCode::EmailTaken);
    assert_eq!(auth.users().await, 1);
    assert_eq!(auth.read(Topic::AuthEvents, 1).await.len(), 1);
    auth.consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_register_user_message_twice_makes_one_user_one_event_and_one_outcome() {
    let auth = Auth::start().await;
    let command = auth.command("alan@example.com", Role::Buyer);
    auth.send(&command).await;
    auth.send(&command).await;

    let commands = auth.bed.kafka.topics.name(Topic::AuthCommands);
    let duplicates = auth
        .consumer
        .metrics
        .duplicates
        .with_label_values(&[&commands]);
    eventually("the replay is skipped", WAIT, || async {
        duplicates.get() == 1
    })
    .await;
    assert_eq!(auth.users().await, 1);
    assert_eq!(auth.read(Topic::AuthEvents, 1).await.len(), 1);
    assert_eq!(auth.read(Topic::GatewayReplies, 1).await.len(), 1);
    auth.consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_as_admin_is_dead_lettered_with_the_reason() {
    let auth = Auth::start().await;
    auth.send(&auth.command("root@example.com", Role::Admin))
        .await;

    let dlq = auth
        .bed
        .kafka
        .topics
        .name(Topic::Dlq(shared_events::Service::Auth));
    let dead = auth.bed.read(&dlq, 1, WAIT, Duration::from_secs(1)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].headers["dlq.reason"],
        "role admin cannot be registered"
    );
    assert_eq!(dead[0].headers["type"], RegisterUser::TYPE);
    assert_eq!(auth.users().await, 0);
    auth.consumer.stop().await;
}
