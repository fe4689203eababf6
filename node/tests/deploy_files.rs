//! The files in deploy/ configure the node only with settings it really has:
//! every `HELIOGRAPH_*` variable that the compose file, the Dockerfile, the
//! systemd unit and the rendered Helm chart set is a documented flag, and the
//! node's own loader (`heliograph --print-config`) accepts each set; the
//! container, compose file and chart serve the bridge off loopback, and serve
//! `/metrics` on a listener of their own that Prometheus scrapes; the chart
//! hands the REST admin secret over as a mounted Secret file. The compose
//! file's coturn and node1 share the TURN secret. The Grafana dashboard only
//! charts metrics a running node exports.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use heliograph_node::Config;
use serde::Deserialize;
use serde_yaml::Value as Yaml;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("read deploy/{path}: {e}"))
}

/// Every env variable `heliograph --help` documents.
fn documented_env() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_heliograph")).arg("--help").output().expect("run --help");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf8")
}

/// Runs `heliograph --print-config` with only `env` (plus `args`) and returns the result.
fn print_config(what: &str, env: &BTreeMap<String, String>, args: &[&str]) -> Config {
    let help = documented_env();
    for key in env.keys().filter(|k| k.starts_with("HELIOGRAPH_")) {
        // Secrets' variables are listed without their value (`hide_env_values`).
        let listed = help.contains(&format!("[env: {key}=")) || help.contains(&format!("[env: {key}]"));
        assert!(listed, "{what} sets {key}, which is not a heliograph flag");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_heliograph"))
        .arg("--print-config")
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .expect("run --print-config");
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    toml::from_str(&String::from_utf8(out.stdout).expect("utf8")).expect("printed config is TOML")
}

fn yaml_env(map: &Yaml) -> BTreeMap<String, String> {
    map.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Yaml::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).expect("scalar").trim().to_owned(),
                    };
                    (k.as_str().expect("key").to_owned(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_nodes_use_real_settings_and_bootstrap_to_node1() {
    let compose: Yaml = serde_yaml::from_str(&read("compose.yaml")).expect("compose.yaml is YAML");
    let services = compose["services"].as_mapping().expect("services");
    let mut nodes = 0;
    let mut scraped = Vec::new();
    for (name, service) in services {
        let name = name.as_str().expect("name");
        let env = yaml_env(&service["environment"]);
        if !env.keys().any(|k| k.starts_with("HELIOGRAPH_")) {
            continue;
        }
        nodes += 1;
        let config = print_config(&format!("compose service {name}"), &env, &[]);
        assert_eq!(config.rest.addr.to_string(), "0.0.0.0:8645", "{name}: REST off the container's loopback");
        // /metrics on a listener of its own, exposed in the network, accepting the name it is scraped by.
        let metrics = config.metrics.addr.unwrap_or_else(|| panic!("{name}: no metrics listener"));
        assert!(metrics.ip().is_unspecified(), "{name}: metrics reachable by Prometheus: {metrics}");
        let expose: Vec<&str> =
            service["expose"].as_sequence().expect("expose").iter().filter_map(|p| p.as_str()).collect();
        assert!(expose.contains(&metrics.port().to_string().as_str()), "{name} exposes {metrics}: {expose:?}");
        assert_eq!(config.metrics.allowed_hosts, [name], "{name}: Prometheus' Host header is accepted");
        scraped.push(format!("{name}:{}", metrics.port()));
        assert_eq!(config.relay.cluster_id, 1);
        if name == "node1" {
            assert!(config.network.bootstrap.is_empty());
            // The bridge listens on the container's interfaces and the host publishes it.
            assert_eq!(config.bridge.addr.to_string(), "0.0.0.0:8090", "node1 serves the bridge");
            let ports: Vec<&str> =
                service["ports"].as_sequence().expect("ports").iter().filter_map(|p| p.as_str()).collect();
            assert!(ports.contains(&"127.0.0.1:8090:8090"), "node1 publishes the bridge: {ports:?}");
        } else {
            assert!(
                config.network.bootstrap.iter().any(|a| a.to_string() == "/dns4/node1/tcp/60000"),
                "{name} bootstraps to node1: {:?}",
                config.network.bootstrap
            );
        }
    }
    assert_eq!(nodes, 3, "three nodes in the compose mesh");

    // Prometheus scrapes exactly those three on their metrics listeners.
    let prom: Yaml = serde_yaml::from_str(&read("prometheus/prometheus.yml")).expect("YAML");
    let targets: Vec<&str> = prom["scrape_configs"][0]["static_configs"][0]["targets"]
        .as_sequence()
        .expect("targets")
        .iter()
        .map(|t| t.as_str().expect("str"))
        .collect();
    assert_eq!(targets, scraped);
}

/// coturn (TURN REST auth) and node1 get the same `HELIOGRAPH_TURN_SECRET`, and node1
/// hands out URLs of coturn's port, which the node's loader accepts.
#[test]
fn compose_coturn_shares_its_secret_with_node1() {
    let compose: Yaml = serde_yaml::from_str(&read("compose.yaml")).expect("compose.yaml is YAML");
    let coturn = &compose["services"]["coturn"];
    let command: Vec<&str> =
        coturn["command"].as_sequence().expect("coturn command").iter().filter_map(|c| c.as_str()).collect();
    let secret_arg =
        command.iter().find_map(|c| c.strip_prefix("--static-auth-secret=")).expect("coturn gets --static-auth-secret");
    assert!(
        secret_arg.starts_with("${HELIOGRAPH_TURN_SECRET:?"),
        "coturn's secret is the required variable: {secret_arg}"
    );
    let conf = read("coturn/turnserver.conf");
    let lines: Vec<&str> = conf.lines().map(str::trim).collect();
    assert!(lines.contains(&"use-auth-secret"), "coturn uses TURN REST credentials");
    let port = lines.iter().find_map(|l| l.strip_prefix("listening-port=")).expect("coturn's port");
    let volumes: Vec<&str> =
        coturn["volumes"].as_sequence().expect("volumes").iter().filter_map(|v| v.as_str()).collect();
    assert!(volumes.contains(&"./coturn/turnserver.conf:/etc/coturn/turnserver.conf:ro"), "{volumes:?}");

    let mut env = yaml_env(&compose["services"]["node1"]["environment"]);
    assert_eq!(env["HELIOGRAPH_TURN_SECRET"], secret_arg, "node1 and coturn use the same variable");
    // What compose would substitute, so the node's loader sees real values.
    env.insert("HELIOGRAPH_TURN_SECRET".into(), "deploy-files-turn-secret-0123".into());
    let urls = env["HELIOGRAPH_TURN_URLS"].replace("${HELIOGRAPH_PUBLIC_HOST:-localhost}", "turn.example.org");
    env.insert("HELIOGRAPH_TURN_URLS".into(), urls);
    let config = print_config("compose service node1", &env, &[]);
    assert!(!config.turn.urls.is_empty());
    for url in &config.turn.urls {
        assert!(url.starts_with(&format!("turn:turn.example.org:{port}?")), "node1 names coturn's port {port}: {url}");
    }
    // --print-config never prints the secret; the loaded config has it.
    assert_eq!(config.turn.secret, None);
}

#[test]
fn dockerfile_env_is_real_and_loads() {
    let text = read("Dockerfile");
    // Join continuation lines, then read `ENV K=V K=V` instructions.
    let joined = text.replace("\\\n", " ");
    let mut env = BTreeMap::new();
    for line in joined.lines().filter_map(|l| l.trim().strip_prefix("ENV ")) {
        for pair in line.split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV K=V");
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    assert!(env.contains_key("HELIOGRAPH_DATA_DIR") && env.contains_key("HELIOGRAPH_REST_ADDR"), "{env:?}");
    let config = print_config("Dockerfile", &env, &[]);
    assert_eq!(config.data_dir, PathBuf::from("/var/lib/heliograph"));
    assert!(config.bridge.addr.ip().is_unspecified(), "the bridge is reachable from outside the container");
    let expose = text.lines().find(|l| l.starts_with("EXPOSE ")).expect("EXPOSE");
    assert!(expose.contains(&format!("{}/tcp", config.bridge.addr.port())), "{expose}");
    assert!(text.contains("VOLUME [\"/var/lib/heliograph\"]"), "the data dir is the volume");
    assert!(text.contains("cargo build --release --locked --bin heliograph"), "the README's build command");
    assert!(text.contains("RUN scripts/setup"), "the README's setup step");
}

#[test]
fn systemd_unit_env_and_config_file_load() {
    let text = read("systemd/heliograph.service");
    let env: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("K=V");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert!(!env.is_empty());
    let toml_path = deploy("heliograph.toml");
    let config = print_config("systemd unit", &env, &["--config", toml_path.to_str().expect("utf8")]);
    assert_eq!(config.data_dir, PathBuf::from("/var/lib/heliograph"), "StateDirectory=heliograph");
    for directive in [
        "DynamicUser=yes",
        "StateDirectory=heliograph",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "MemoryDenyWriteExecute=yes",
    ] {
        assert!(text.lines().any(|l| l == directive), "unit lacks {directive}");
    }
    assert!(text.contains("ExecStart=/usr/local/bin/heliograph --config /etc/heliograph/heliograph.toml"));
}

/// The first document of `kind` in a rendered chart named `hg-heliograph`.
fn rendered(file: &str, kind: &str) -> Option<Yaml> {
    let text = read(&format!("helm/rendered/{file}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Yaml::deserialize(doc).expect("rendered YAML"))
        .find(|doc| doc["kind"].as_str() == Some(kind) && doc["metadata"]["name"] == "hg-heliograph")
}

/// The StatefulSet container of a rendered chart.
fn rendered_container(file: &str) -> Yaml {
    let set = rendered(file, "StatefulSet").unwrap_or_else(|| panic!("no StatefulSet in {file}"));
    set["spec"]["template"]["spec"]["containers"][0].clone()
}

#[test]
fn rendered_helm_chart_env_loads_and_bootstraps_to_pod_0() {
    for file in ["default.yaml", "all-options.yaml"] {
        let container = rendered_container(file);
        let mut env = BTreeMap::new();
        for var in container["env"].as_sequence().expect("env") {
            let Some(value) = var["value"].as_str() else { continue }; // valueFrom (POD_IP)
            env.insert(var["name"].as_str().expect("name").to_owned(), value.replace("$(POD_IP)", "10.1.2.3"));
        }
        // What the container's start script does for pods 1..n.
        let script = container["args"][0].as_str().expect("start script");
        let pod0 = "/dns4/hg-heliograph-0.hg-heliograph-p2p.mesh.svc.cluster.local/tcp/60000";
        assert!(script.contains(pod0), "{file}: pods bootstrap to pod 0 by its stable name:\n{script}");
        let extra = env.remove("EXTRA_BOOTSTRAP").unwrap_or_default();
        let bootstrap = if extra.is_empty() { pod0.to_owned() } else { format!("{pod0},{extra}") };
        env.insert("HELIOGRAPH_BOOTSTRAP".into(), bootstrap);
        // The admin secret: a Secret's key mounted read-only as the file the node reads.
        let secret_file = admin_token_file(file, &container);
        let dir = tempfile::tempdir().expect("tempdir");
        let local = dir.path().join("admin-token");
        std::fs::write(&local, "a-secret-from-the-mounted-file\n").expect("write");
        if let Some(path) = &secret_file {
            assert_eq!(env.get("HELIOGRAPH_REST_ADMIN_TOKEN_FILE"), Some(path), "{file}");
            env.insert("HELIOGRAPH_REST_ADMIN_TOKEN_FILE".into(), local.to_str().expect("utf8").to_owned());
        }
        let config = print_config(&format!("helm {file}"), &env, &[]);
        assert_eq!(config.rest.admin_token_file.is_some(), secret_file.is_some(), "{file}");
        // /metrics on its own port: a container port, a port of the Service, the ServiceMonitor's.
        let metrics = config.metrics.addr.unwrap_or_else(|| panic!("{file}: no metrics listener"));
        assert!(metrics.ip().is_unspecified(), "{file}: {metrics}");
        let ports = container["ports"].as_sequence().expect("ports");
        let port = u64::from(metrics.port());
        assert!(ports.iter().any(|p| p["name"] == "metrics" && p["containerPort"].as_u64() == Some(port)), "{file}");
        let service = rendered(file, "Service").expect("client Service");
        let service_ports = service["spec"]["ports"].as_sequence().expect("service ports");
        assert!(service_ports.iter().any(|p| p["targetPort"] == "metrics"), "{file}: the Service serves metrics");
        if let Some(monitor) = rendered(file, "ServiceMonitor") {
            assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics", "{file}: scraped on the metrics port");
        }
        assert_eq!(config.network.bootstrap[0].to_string(), pod0);
        assert!(config.network.external_addresses.iter().any(|a| a.to_string() == "/ip4/10.1.2.3/tcp/60000"));
        assert_eq!(config.rest.addr.to_string(), "0.0.0.0:8645");
        // The bridge: bound on the pod's interfaces, a container port, a port of the Service.
        assert!(config.bridge.enabled && config.bridge.addr.ip().is_unspecified(), "{file}: {:?}", config.bridge);
        let port = u64::from(config.bridge.addr.port());
        let container_ports = container["ports"].as_sequence().expect("ports");
        assert!(container_ports.iter().any(|p| p["name"] == "bridge" && p["containerPort"].as_u64() == Some(port)));
        let service = rendered(file, "Service").expect("client Service");
        let service_ports = service["spec"]["ports"].as_sequence().expect("service ports");
        assert!(service_ports.iter().any(|p| p["targetPort"] == "bridge"), "{file}: the Service serves the bridge");
        if file == "all-options.yaml" {
            // wss:// through the Ingress: TLS at the controller, the Service's bridge port behind,
            // the Ingress host accepted by the bridge's Host check, the controller trusted for XFF.
            let ingress = rendered(file, "Ingress").expect("Ingress");
            let rule = &ingress["spec"]["rules"][0];
            let host = rule["host"].as_str().expect("host");
            assert_eq!(rule["http"]["paths"][0]["backend"]["service"]["port"]["name"], "bridge");
            assert_eq!(ingress["spec"]["tls"][0]["hosts"][0].as_str(), Some(host));
            assert!(config.bridge.allowed_hosts.iter().any(|h| h == host), "{:?}", config.bridge.allowed_hosts);
            assert!(config.bridge.require_token && config.bridge.token_keys.len() == 1);
            assert_eq!(config.bridge.trusted_proxies.len(), 1);
            assert_eq!(config.network.bootstrap.len(), 2);
            assert_eq!(config.network.dns_discovery_urls.len(), 1);
            assert_eq!(config.store.max_age, std::time::Duration::from_secs(12 * 3600));
            assert_eq!(config.log_format, heliograph_node::config::LogFormat::Json);
            assert!(secret_file.is_some(), "all-options names an admin Secret");
        } else {
            assert!(secret_file.is_none(), "no admin Secret by default");
        }
    }
}

/// The admin secret file a rendered container reads, after checking that it is a
/// key of a Secret volume mounted read-only; `None` when the chart sets none.
fn admin_token_file(file: &str, container: &Yaml) -> Option<String> {
    let set = rendered(file, "StatefulSet").expect("StatefulSet");
    let volumes = set["spec"]["template"]["spec"]["volumes"].as_sequence().cloned().unwrap_or_default();
    let volume = volumes.iter().find(|v| v["name"] == "admin-token");
    let env = container["env"].as_sequence().expect("env");
    let var = env.iter().find(|v| v["name"] == "HELIOGRAPH_REST_ADMIN_TOKEN_FILE");
    assert!(!env.iter().any(|v| v["name"] == "HELIOGRAPH_REST_ADMIN_TOKEN"), "{file}: the secret is never in env");
    let (Some(volume), Some(var)) = (volume, var) else {
        assert!(volume.is_none() && var.is_none(), "{file}: a volume without the variable or the reverse");
        return None;
    };
    let path = var["value"].as_str().expect("path").to_owned();
    let mounts = container["volumeMounts"].as_sequence().expect("mounts");
    let mount = mounts.iter().find(|m| m["name"] == "admin-token").expect("the admin Secret is mounted");
    assert_eq!(mount["readOnly"].as_bool(), Some(true), "{file}");
    let dir = mount["mountPath"].as_str().expect("mount path");
    let item = &volume["secret"]["items"][0];
    assert_eq!(format!("{dir}/{}", item["path"].as_str().expect("item path")), path, "{file}: the file is the key");
    assert!(volume["secret"]["secretName"].as_str().is_some_and(|n| !n.is_empty()), "{file}");
    assert!(item["key"].as_str().is_some(), "{file}");
    Some(path)
}

#[tokio::test]
async fn grafana_dashboard_charts_metrics_the_node_exports() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("grafana/dashboards/heliograph.json")).expect("dashboard is JSON");
    let mut names = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let starts = expr.match_indices("heliograph_").chain(expr.match_indices("process_"));
            for (i, _) in starts.filter(|(i, _)| *i == 0 || !expr[..*i].ends_with('_')) {
                let name: String = expr[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                // Prometheus sample suffixes of counters and histograms.
                let base = ["_total", "_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name)
                    .to_owned();
                names.insert(base);
            }
        }
    }
    assert!(names.len() >= 10, "{names:?}");
    for name in ["heliograph_build_info", "process_cpu_seconds", "heliograph_http_refused_connections"] {
        assert!(names.contains(name), "the dashboard charts {name}: {names:?}");
    }

    // Two nodes and one message published twice, so that the per-topic and
    // per-reason families have samples (empty families are not exported).
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::TestNode::tcp(&dir.path().join("a"), &[]).await;
    let other = common::TestNode::tcp(&dir.path().join("b"), &["--bootstrap", &node.addr()]).await;
    let (message, _) = common::message("dashboard");
    node.publish_when_meshed(common::TOPIC, &message).await;
    let path = format!("/relay/v1/messages/{}", urlencoding::encode(common::TOPIC));
    assert_eq!(
        node.post_json(&path, &message).await.0,
        200,
        "a duplicate is answered OK (nwaku), not relayed again, and counted"
    );
    let (status, text) = node.get("/metrics").await;
    assert_eq!(status, 200);
    for name in &names {
        let exported = text.lines().any(|l| l.starts_with(&format!("# TYPE {name} ")));
        assert!(exported, "the dashboard charts {name}, which the node does not export");
    }
    // The two metrics this issue added are there with their types.
    assert!(text.contains("# TYPE heliograph_mesh_peers gauge"));
    assert!(text.contains("# TYPE heliograph_store_query_seconds histogram"));
    drop(other);
}

#[test]
fn dns_discovery_urls_are_checked_when_the_config_loads() {
    let url = "enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@nodes.example.org";
    let env = BTreeMap::from([("HELIOGRAPH_DNS_DISCOVERY_URLS".to_owned(), url.to_owned())]);
    let config = print_config("an ENR tree URL", &env, &[]);
    assert_eq!(config.network.dns_discovery_urls, [url]);

    let bad = Command::new(env!("CARGO_BIN_EXE_heliograph"))
        .args(["--print-config", "--dns-discovery-url", "enrtree://not-base32@nodes.example.org"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("invalid ENR tree URL") && stderr.contains("base32"), "{stderr}");
}
