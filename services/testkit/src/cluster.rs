//! A cluster of Apache Kafka nodes of a test's own, each a broker and a controller, as
//! `./dev up --brokers 3` runs them (`./dev broker-run` with a static quorum): a test
//! can kill and restart its brokers without disturbing the shared broker the rest of
//! the suite uses.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kafka_runtime::admin::{describe_replicas, ClusterReplicas, Replication};
use kafka_runtime::{tools, KafkaConfig};

use crate::process::free_port;

/// The replication of `./dev up --brokers 3` and of docker-compose.kafka.yml's cluster
/// profile: deploy/kafka/cluster.env's `TOPIC_REPLICATION_FACTOR` and
/// `TOPIC_MIN_INSYNC_REPLICAS`.
pub fn cluster_replication() -> Replication {
    const CLUSTER_ENV: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/kafka/cluster.env"
    ));
    Replication::from_env_file(CLUSTER_ENV).expect("deploy/kafka/cluster.env's replication")
}

/// One node: its id, ports, data directory and, while it runs, its process.
struct Node {
    id: i32,
    port: u16,
    controller: u16,
    dir: PathBuf,
    child: Option<tokio::process::Child>,
}

/// Nodes 1 to N on free ports of 127.0.0.1, with data in a temporary directory removed
/// when dropped; every process is killed when dropped.
pub struct KafkaCluster {
    nodes: Vec<Node>,
    cluster_id: String,
    replication: Replication,
    dir: PathBuf,
}

impl KafkaCluster {
    /// Starts `count` nodes whose topics and internal topics get `replication`, and
    /// waits until every one answers a metadata request.
    pub async fn start(count: i32, replication: Replication) -> Self {
        let dir = std::env::temp_dir().join(format!("kafka-cluster-{}", uuid::Uuid::new_v4()));
        let nodes = (1..=count)
            .map(|id| Node {
                id,
                port: free_port(),
                controller: free_port(),
                dir: dir.join(format!("node-{id}")),
                child: None,
            })
            .collect();
        let mut cluster = Self {
            nodes,
            cluster_id: cluster_id(uuid::Uuid::new_v4()),
            replication,
            dir,
        };
        for id in 1..=count {
            cluster.launch(id);
        }
        for id in 1..=count {
            cluster.await_node(id).await;
        }
        cluster
    }

    /// The bootstrap servers: every node.
    pub fn brokers(&self) -> String {
        let all: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        all.join(",")
    }

    /// Kafka settings for the cluster, without prefix or librdkafka overrides.
    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig {
            brokers: self.brokers(),
            ..KafkaConfig::local("")
        }
    }

    /// Kills node `id` with SIGKILL, as a crash of its machine would, and waits until
    /// it has exited.
    pub async fn kill(&mut self, id: i32) {
        let node = self.node(id);
        let mut child = node.child.take().expect("the node runs");
        child.kill().await.expect("SIGKILL");
    }

    /// Starts node `id` again on its data, without waiting for it.
    pub fn restart(&mut self, id: i32) {
        assert!(self.node(id).child.is_none(), "node {id} runs");
        self.launch(id);
    }

    /// Waits up to 90 s until node `id` answers a metadata request on its own port.
    pub async fn await_node(&self, id: i32) {
        let node = self.nodes.iter().find(|n| n.id == id).expect("a node");
        let kafka = KafkaConfig {
            brokers: format!("127.0.0.1:{}", node.port),
            ..KafkaConfig::local("")
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let probe = kafka.clone();
            let answered =
                tokio::task::spawn_blocking(move || tools::ping(&probe, Duration::from_secs(2)))
                    .await
                    .expect("ping");
            if answered.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} of the cluster does not answer after 90 s: {answered:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The leaders, replicas and in-sync replicas of `topics`, as the metadata says.
    pub async fn replicas(&self, topics: &[String]) -> anyhow::Result<ClusterReplicas> {
        let (kafka, topics) = (self.kafka(), topics.to_vec());
        tokio::task::spawn_blocking(move || {
            describe_replicas(&kafka, &topics, Duration::from_secs(5))
        })
        .await?
    }

    fn node(&mut self, id: i32) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.id == id).expect("a node")
    }

    /// `./dev broker-run` for node `id`: the node the cluster of `./dev up --brokers 3`
    /// runs, with a small heap, its output in `<dir>/node-<id>.log`.
    fn launch(&mut self, id: i32) {
        let script = std::env::var("DEV_SCRIPT")
            .expect("DEV_SCRIPT: run the cluster tests through ./dev test");
        let voters: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller))
            .collect();
        let (cluster_id, replication) = (self.cluster_id.clone(), self.replication);
        std::fs::create_dir_all(&self.dir).expect("the cluster's directory");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("node-{id}.log")))
            .expect("a log file");
        let node = self.node(id);
        let mut command = tokio::process::Command::new(script);
        command
            .args(["broker-run", &node.port.to_string()])
            .arg(&node.dir)
            .arg(node.controller.to_string())
            .args(["--node", &id.to_string(), "--voters", &voters.join(",")])
            .args(["--cluster-id", &cluster_id])
            .env("TOPIC_REPLICATION_FACTOR", replication.factor.to_string())
            .env("BROKER_HEAP", "384m")
            .env("BROKER_HEAP_MIN", "128m")
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .kill_on_drop(true);
        match replication.min_insync_replicas {
            Some(min) => command.env("TOPIC_MIN_INSYNC_REPLICAS", min.to_string()),
            None => command.env_remove("TOPIC_MIN_INSYNC_REPLICAS"),
        };
        node.child = Some(command.spawn().expect("./dev broker-run"));
    }

    /// The last lines each node logged: for a failure's message.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let path = self.dir.join(format!("node-{}.log", node.id));
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(lines).collect();
            out.push_str(&format!("--- node {}\n", node.id));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                child.start_kill().ok();
            }
        }
        // The JVMs hold their files until they exit; whatever is left goes with /tmp.
        std::thread::sleep(Duration::from_millis(500));
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// A cluster id as Apache Kafka writes them: the 16 bytes of a UUID in URL-safe base64
/// without padding (22 characters).
fn cluster_id(uuid: uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cluster_keeps_three_copies_and_acknowledges_with_two() {
        let replication = super::cluster_replication();
        assert_eq!(
            (replication.factor, replication.min_insync_replicas),
            (3, Some(2))
        );
    }

    #[test]
    fn a_cluster_id_is_a_uuid_in_url_safe_base64_without_padding() {
        // As Python's base64.urlsafe_b64encode writes them, less the padding.
        let uuid = uuid::Uuid::from_bytes([
            0x9c, 0x20, 0x64, 0x01, 0xea, 0x03, 0x4f, 0xe4, 0x93, 0xe9, 0xf3, 0x46, 0xf5, 0x13,
            0xab, 0xe8,
        ]);
        assert_eq!(super::cluster_id(uuid), "nCBkAeoDT-ST6fNG9ROr6A");
        assert_eq!(
            super::cluster_id(uuid::Uuid::max()),
            "_____________________w"
        );
    }
}
