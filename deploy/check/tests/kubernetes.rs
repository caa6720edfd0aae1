//! deploy/k8s rendered by `kubectl kustomize` (installed by `./dev install`) and held
//! to the sources: a Deployment per service with probes at the port it listens on and
//! resources, every setting without a container-safe default set, a KEDA ScaledObject
//! per consumer service on its groups' lag capped at the partition count, and the
//! gateway's Service and Ingress.

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
