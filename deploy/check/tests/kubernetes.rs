//! deploy/k8s rendered by `kubectl kustomize` (installed by `./dev install`) and held
//! to the sources: a Deployment per service with probes at the port it listens on and
//! resources, every setting without a container-safe default set, a KEDA ScaledObject
//! per consumer service on its groups' lag capped at the partition count, the
//! gateway's Service and Ingress, and the Kafka they use: a Strimzi cluster of three
//! KRaft nodes replicated as `./dev up --brokers 3` replicates, and a KafkaTopic for
//! every topic of shared-events.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use deploy_check::*;
use serde::Deserialize;
use serde_yaml::Value;

/// Every object `kubectl kustomize deploy/k8s` renders.
fn rendered() -> Vec<Value> {
    let output = Command::new("kubectl")
        .current_dir(repo_root())
        .args(["kustomize", "deploy/k8s"])
        .output()
        .expect("kubectl runs (./dev install installs Debian's kubernetes-client)");
    assert!(
        output.status.success(),
        "kubectl kustomize deploy/k8s: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).expect("a YAML document"))
        .filter(|document| !document.is_null())
        .collect()
}

fn objects<'a>(all: &'a [Value], kind: &str) -> BTreeMap<String, &'a Value> {
    all.iter()
        .filter(|object| object["kind"].as_str() == Some(kind))
        .map(|object| {
            (
                object["metadata"]["name"].as_str().unwrap().to_string(),
                object,
            )
        })
        .collect()
}

fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    assert_eq!(containers.len(), 1);
    &containers[0]
}

/// The names a container's environment sets: its `env` and the ConfigMaps and Secrets
/// of its `envFrom`, with their values where they are plain (a ConfigMap's or `value`).
fn container_environment(all: &[Value], container: &Value) -> BTreeMap<String, Option<String>> {
    let mut env = BTreeMap::new();
    for source in container["envFrom"].as_sequence().into_iter().flatten() {
        let name = source["configMapRef"]["name"]
            .as_str()
            .expect("a ConfigMap");
        let map = objects(all, "ConfigMap")[name];
        for (key, value) in map["data"].as_mapping().expect("data") {
            env.insert(key.as_str().unwrap().to_string(), scalar_text(value));
        }
    }
    for variable in container["env"].as_sequence().into_iter().flatten() {
        let name = variable["name"].as_str().unwrap().to_string();
        if let Some(value) = variable["value"].as_str() {
            env.insert(name, Some(value.to_string()));
        } else {
            let secret = &variable["valueFrom"]["secretKeyRef"];
            let (secret_name, key) = (
                secret["name"].as_str().unwrap(),
                secret["key"].as_str().unwrap(),
            );
            let data = &objects(all, "Secret")[secret_name]["data"];
            assert!(
                !data[key].is_null(),
                "{name} refers to the missing {secret_name}/{key}"
            );
            env.insert(name, None);
        }
    }
    env
}

#[test]
fn every_service_has_a_deployment_with_probes_at_its_port_and_resources() {
    let all = rendered();
    let deployments = objects(&all, "Deployment");
    assert_eq!(
        deployments.keys().cloned().collect::<BTreeSet<_>>(),
        SERVICES.iter().map(|s| s.to_string()).collect()
    );
    for name in SERVICES {
        let container = container(deployments[name]);
        let command: Vec<&str> = container["command"]
            .as_sequence()
            .expect("command")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(command, [name], "the container does not run {name}");
        let env = container_environment(&all, container);
        let addr = env["HTTP_ADDR"]
            .clone()
            .expect("HTTP_ADDR is a plain value");
        assert!(addr.starts_with("0.0.0.0:"), "{name} listens on {addr}");
        let port = port_of(&addr).unwrap();
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let get = &container[probe]["httpGet"];
            assert_eq!(get["path"].as_str(), Some(path), "{name}'s {probe}");
            assert_eq!(
                get["port"].as_u64(),
                Some(u64::from(port)),
                "{name}'s {probe} port"
            );
        }
        assert_eq!(
            container["ports"][0]["containerPort"].as_u64(),
            Some(u64::from(port))
        );
        for bound in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    !container["resources"][bound][resource].is_null(),
                    "{name} has no {bound}.{resource}"
                );
            }
        }
        let security = &deployments[name]["spec"]["template"]["spec"]["securityContext"];
        assert_eq!(
            security["runAsNonRoot"].as_bool(),
            Some(true),
            "{name} may run as root"
        );
    }
}

#[test]
fn every_variable_without_a_default_that_works_in_a_pod_is_set() {
    let all = rendered();
    let deployments = objects(&all, "Deployment");
    for name in SERVICES {
        let env = container_environment(&all, container(deployments[name]));
        let required: Vec<String> = settings_of(name)
            .into_iter()
            .filter(|setting| setting.fallback != Fallback::Portable)
            .map(|setting| setting.name)
            .collect();
        assert!(
            required.iter().any(|variable| variable == "KAFKA_BROKERS"),
            "{name}: KAFKA_BROKERS, whose default is this machine, was not found"
        );
        for variable in required {
            let value = env.get(&variable);
            assert!(
                value.is_some(),
                "{name} reads {variable}, which deploy/k8s does not set"
            );
            if let Some(Some(value)) = value {
                assert!(
                    !value.is_empty() && !value.contains("127.0.0.1"),
                    "{name}: {variable}={value}"
                );
            }
        }
        assert_sets_only_what_it_reads("deploy/k8s", name, env.keys());
    }
}

#[test]
fn each_consumer_service_scales_on_its_groups_lag_up_to_the_partition_count() {
    let all = rendered();
    let scaled = objects(&all, "ScaledObject");
    let partitions = u64::from(topics_sh_default_partitions());
    let brokers = objects(&all, "ConfigMap")
        .values()
        .find_map(|map| map["data"]["KAFKA_BROKERS"].as_str().map(str::to_string))
        .expect("KAFKA_BROKERS in a ConfigMap");
    for name in SERVICES {
        let groups = consumer_groups(name);
        if groups.is_empty() {
            assert!(
                !scaled.contains_key(name),
                "{name} has no consumer group to scale on"
            );
            continue;
        }
        let object = scaled
            .get(name)
            .unwrap_or_else(|| panic!("{name} consumes in {groups:?} but has no ScaledObject"));
        let spec = &object["spec"];
        assert_eq!(spec["scaleTargetRef"]["name"].as_str(), Some(name));
        assert_eq!(
            spec["maxReplicaCount"].as_u64(),
            Some(partitions),
            "{name}: more instances than partitions sit idle, fewer leave partitions unscaled"
        );
        let triggers = spec["triggers"].as_sequence().expect("triggers");
        let mut scaled_groups = Vec::new();
        for trigger in triggers {
            assert_eq!(trigger["type"].as_str(), Some("kafka"));
            let metadata = &trigger["metadata"];
            assert_eq!(
                metadata["bootstrapServers"].as_str(),
                Some(brokers.as_str())
            );
            assert!(
                metadata["lagThreshold"].as_str().is_some(),
                "{name}: a lagThreshold"
            );
            scaled_groups.push(metadata["consumerGroup"].as_str().unwrap().to_string());
        }
        assert_eq!(
            scaled_groups, groups,
            "{name} scales on other groups than it joins"
        );
    }
}

#[test]
fn the_gateway_is_reached_through_a_service_and_an_ingress() {
    let all = rendered();
    let services = objects(&all, "Service");
    assert_eq!(
        services.keys().collect::<Vec<_>>(),
        ["gateway"],
        "only the gateway has a Service"
    );
    let gateway = services["gateway"];
    let env = container_environment(&all, container(objects(&all, "Deployment")["gateway"]));
    let port = port_of(env["HTTP_ADDR"].as_deref().unwrap()).unwrap();
    let service_port = &gateway["spec"]["ports"][0];
    assert_eq!(service_port["targetPort"].as_u64(), Some(u64::from(port)));
    assert_eq!(
        gateway["spec"]["selector"]["app.kubernetes.io/name"].as_str(),
        Some("gateway")
    );
    let ingress = objects(&all, "Ingress")["gateway"];
    let backend = &ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend["name"].as_str(), Some("gateway"));
    assert_eq!(backend["port"]["name"], service_port["name"]);
}

/// A YAML scalar as text (numbers and booleans as written).
fn text(value: &Value) -> String {
    scalar_text(value).unwrap_or_else(|| panic!("not a scalar: {value:?}"))
}

#[test]
fn kafka_is_a_strimzi_cluster_of_three_kraft_nodes_replicated_as_the_dev_cluster() {
    let all = rendered();
    let kafkas = objects(&all, "Kafka");
    assert_eq!(
        kafkas.keys().collect::<Vec<_>>(),
        [STRIMZI_CLUSTER],
        "one Strimzi Kafka"
    );
    let kafka = kafkas[STRIMZI_CLUSTER];
    let annotations = &kafka["metadata"]["annotations"];
    assert_eq!(annotations["strimzi.io/kraft"].as_str(), Some("enabled"));
    assert_eq!(
        annotations["strimzi.io/node-pools"].as_str(),
        Some("enabled")
    );
    assert!(kafka["spec"]["zookeeper"].is_null(), "KRaft, no ZooKeeper");
    let pom = read("deploy/kafka/pom.xml");
    let version = pom
        .split_once("<kafka.version>")
        .and_then(|(_, rest)| rest.split_once('<'))
        .map(|(version, _)| version)
        .expect("the pom's kafka.version");
    assert_eq!(
        text(&kafka["spec"]["kafka"]["version"]),
        version,
        "the version ./dev runs"
    );

    // Three copies of everything, two in sync, as deploy/kafka/server.properties with
    // deploy/kafka/cluster.env: the ./dev cluster's and compose's.
    let cluster = cluster_env();
    let (factor, min_insync) = (
        &cluster["TOPIC_REPLICATION_FACTOR"],
        &cluster["TOPIC_MIN_INSYNC_REPLICAS"],
    );
    let config = &kafka["spec"]["kafka"]["config"];
    for (key, template) in replication_properties() {
        assert_eq!(
            scalar_text(&config[key.as_str()]),
            Some(with_replication(&template, factor, min_insync)),
            "spec.kafka.config.{key} (./dev's {key}={template})"
        );
    }
    assert!(
        !kafka["spec"]["entityOperator"]["topicOperator"].is_null(),
        "the Topic Operator makes the KafkaTopics"
    );

    // The nodes: pools of this cluster, each node a broker and a controller; as many
    // as copies, an odd number of controllers.
    let pools: Vec<&Value> = objects(&all, "KafkaNodePool")
        .into_values()
        .filter(|pool| {
            pool["metadata"]["labels"]["strimzi.io/cluster"].as_str() == Some(STRIMZI_CLUSTER)
        })
        .collect();
    let count = |role: &str| -> u64 {
        pools
            .iter()
            .filter(|pool| {
                pool["spec"]["roles"]
                    .as_sequence()
                    .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some(role)))
            })
            .map(|pool| pool["spec"]["replicas"].as_u64().expect("replicas"))
            .sum()
    };
    let copies: u64 = factor.parse().expect("a number");
    assert_eq!(count("broker"), copies, "one broker per copy");
    assert_eq!(count("controller"), copies, "a controller on each node");
    assert_eq!(count("controller") % 2, 1, "an odd number of controllers");

    // The services reach it through its bootstrap Service, the KEDA triggers too.
    let listener = kafka["spec"]["kafka"]["listeners"]
        .as_sequence()
        .expect("listeners")
        .iter()
        .find(|l| l["type"].as_str() == Some("internal") && l["tls"].as_bool() == Some(false))
        .expect("a plain internal listener");
    let bootstrap = format!(
        "{STRIMZI_CLUSTER}-kafka-bootstrap:{}",
        text(&listener["port"])
    );
    let brokers = objects(&all, "ConfigMap")
        .values()
        .find_map(|map| map["data"]["KAFKA_BROKERS"].as_str().map(str::to_string))
        .expect("KAFKA_BROKERS in a ConfigMap");
    assert_eq!(brokers, bootstrap);
}

#[test]
fn every_topic_is_a_kafka_topic_with_three_copies_and_two_in_sync() {
    use shared_events::topics::Retention;
    let all = rendered();
    let cluster = cluster_env();
    let topics: BTreeMap<String, &Value> = objects(&all, "KafkaTopic")
        .into_values()
        .map(|topic| {
            let name = topic["spec"]["topicName"]
                .as_str()
                .or(topic["metadata"]["name"].as_str())
                .expect("a topic name");
            (name.to_string(), topic)
        })
        .collect();
    let expected = shared_events::Topics::new("").all();
    assert_eq!(
        topics.keys().cloned().collect::<BTreeSet<_>>(),
        expected.iter().map(|(name, _)| name.clone()).collect(),
        "the KafkaTopics are not shared-events' topics"
    );
    for (name, retention) in expected {
        let topic = topics[&name];
        assert_eq!(
            topic["metadata"]["labels"]["strimzi.io/cluster"].as_str(),
            Some(STRIMZI_CLUSTER),
            "{name} belongs to no cluster"
        );
        let spec = &topic["spec"];
        assert_eq!(
            spec["partitions"].as_u64(),
            Some(u64::from(topics_sh_default_partitions())),
            "{name}"
        );
        assert_eq!(
            text(&spec["replicas"]),
            cluster["TOPIC_REPLICATION_FACTOR"],
            "{name}"
        );
        let config = &spec["config"];
        assert_eq!(
            text(&config["min.insync.replicas"]),
            cluster["TOPIC_MIN_INSYNC_REPLICAS"],
            "{name}"
        );
        let (retention_ms, policy) = match retention {
            Retention::Long => ("-1", "delete"),
            Retention::Short => ("3600000", "delete"),
            Retention::Compacted => ("-1", "compact"),
        };
        assert_eq!(text(&config["retention.ms"]), retention_ms, "{name}");
        assert_eq!(text(&config["cleanup.policy"]), policy, "{name}");
    }
}

#[test]
fn kafka_topics_yaml_is_what_the_generator_writes() {
    assert!(
        read(KAFKA_TOPICS_MANIFEST) == kafka_topics_manifest(),
        "{KAFKA_TOPICS_MANIFEST} is stale: run `cargo run -p deploy-check --bin gen-k8s-topics`"
    );
}
