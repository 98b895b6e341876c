//! `deploy/` agrees with the agent it deploys: the ConfigMap's file is one
//! `tc-agent` accepts with the feature gate on, the DaemonSet passes it at
//! the path the ConfigMap is mounted on, its probes ask the port the agent
//! listens on, the OVS sockets the config names are under the mounted run
//! directory, and every image is one the kustomization sets.

use std::path::Path;

use actors::config::{AgentConfig, Overrides, OvsSocket};
use serde_json::Value;

fn manifest(file: &str) -> Vec<Value> {
    let path = format!("{}/../deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    datapath::manifest::parse_documents(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no {pointer} in {value}"))
}

#[test]
fn the_daemonset_runs_the_agent_with_the_configmaps_file_and_probes_its_port() {
    let configmap = &manifest("configmap.yaml")[0];
    let daemonset = &manifest("daemonset.yaml")[0];
    let pod = daemonset.pointer("/spec/template/spec").expect("pod spec");
    let container = &pod["containers"][0];
    let args: Vec<&str> =
        container["args"].as_array().expect("args").iter().filter_map(Value::as_str).collect();
    let arg = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")))
            .unwrap_or_else(|| panic!("no --{name}"))
    };

    // The config file the agent is given is the ConfigMap's key, mounted.
    let config_path = Path::new(arg("config"));
    let mount = |volume: &str| {
        let mounts = container["volumeMounts"].as_array().expect("volumeMounts");
        let found =
            mounts.iter().find(|m| m["name"] == volume).unwrap_or_else(|| panic!("no mount {volume}"));
        text(found, "/mountPath").to_owned()
    };
    let volumes = pod["volumes"].as_array().expect("volumes");
    let config_volume = volumes.iter().find(|v| v.get("configMap").is_some()).expect("a ConfigMap volume");
    assert_eq!(text(config_volume, "/configMap/name"), text(configmap, "/metadata/name"));
    assert_eq!(config_path.parent(), Some(Path::new(&mount(text(config_volume, "/name")))));
    let key = config_path.file_name().and_then(|n| n.to_str()).expect("a file name");
    let file = configmap["data"][key].as_str().unwrap_or_else(|| panic!("the ConfigMap has no key {key}"));

    // tc-agent accepts it, with TrafficControl on and the sockets under
    // the OVS run directory the DaemonSet mounts from the host.
    let overrides = Overrides { node_name_env: Some("node-1".into()), ..Overrides::default() };
    let config = AgentConfig::parse(config_path, file, &overrides).expect("tc-agent accepts the ConfigMap");
    assert!(config.traffic_control_enabled, "featureGates.TrafficControl must be on");
    assert_eq!(config.kubeconfig, None, "in-cluster configuration");
    let run_dir = mount("ovs-run");
    let host_dir =
        volumes.iter().find(|v| v["name"] == "ovs-run").map(|v| text(v, "/hostPath/path")).expect("ovs-run");
    assert_eq!(run_dir, host_dir, "the host's OVS run directory, at the same path");
    for socket in [&config.ovsdb, &config.openflow] {
        let OvsSocket::Unix(path) = socket else { panic!("{socket} is not a unix socket") };
        assert!(path.starts_with(&run_dir), "{} is not under {run_dir}", path.display());
    }

    // The probes reach what --listen serves, on the node's loopback.
    let listen = arg("listen");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path);
        assert_eq!(format!("{}:{}", text(get, "/host"), get["port"]), listen, "{probe}");
    }
    assert_eq!(pod["hostNetwork"], true, "loopback probes need the host network");
    assert_eq!(container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
    assert_eq!(text(pod, "/serviceAccountName"), text(&manifest("rbac.yaml")[0], "/metadata/name"));
}

#[test]
fn every_image_is_set_by_the_kustomization_and_nothing_is_privileged() {
    let kustomization = &manifest("kustomization.yaml")[0];
    let images: Vec<&str> =
        kustomization["images"].as_array().expect("images").iter().map(|i| text(i, "/name")).collect();
    let daemonset = &manifest("daemonset.yaml")[0];
    let container = &daemonset["spec"]["template"]["spec"]["containers"][0];
    assert!(images.contains(&text(container, "/image")), "{images:?}");
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(security.get("privileged").is_none_or(|p| p == false));
    assert!(security["capabilities"].get("add").is_none(), "no capability is added");
    let resources: Vec<&str> =
        kustomization["resources"].as_array().expect("resources").iter().filter_map(Value::as_str).collect();
    for file in
        ["crds/trafficcontrol.yaml", "namespace.yaml", "rbac.yaml", "configmap.yaml", "daemonset.yaml"]
    {
        assert!(resources.contains(&file), "{file} is not in the kustomization");
    }
}
