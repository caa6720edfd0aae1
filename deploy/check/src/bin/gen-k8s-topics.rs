//! Writes deploy/k8s/kafka-topics.yaml: every topic of the platform as a Strimzi
//! `KafkaTopic` (`deploy_check::kafka_topics_manifest`).
//!
//! `cargo run -p deploy-check --bin gen-k8s-topics`

fn main() -> std::io::Result<()> {
    let path = deploy_check::repo_root().join(deploy_check::KAFKA_TOPICS_MANIFEST);
    std::fs::write(&path, deploy_check::kafka_topics_manifest())?;
    println!("wrote {}", path.display());
    Ok(())
}
