//! Playing kubelet for one Pod of a DaemonSet: its Pod template, as
//! `kubectl kustomize deploy/` renders it, turned into the `podman run`
//! that reproduces it on this machine, field by field. A field this
//! kubelet cannot reproduce is an error naming it, never ignored, so a
//! change to the DaemonSet either runs here as a cluster would run it or
//! fails the test that uses it.
//!
//! What a real kubelet does differently is said where it happens:
//! `KUBERNETES_SERVICE_HOST` is the dev API server's loopback address, not
//! the `kubernetes` Service's ClusterIP; the one hostPath is mapped to the
//! test's private OVS run directory; probes are made by the test; the
//! projected token is one `kubectl create token` made, not one the kubelet
//! refreshes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where the kubelet mounts a Pod's ServiceAccount token, CA and namespace.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What the node gives the Pod: the facts a kubelet fills in.
#[derive(Debug)]
pub struct Node<'a> {
    /// `spec.nodeName`.
    pub name: &'a str,
    /// The Pod's name (`metadata.name`).
    pub pod_name: &'a str,
    /// The API server, as `KUBERNETES_SERVICE_HOST`/`_PORT` give it.
    pub api_host: &'a str,
    /// Its port.
    pub api_port: u16,
    /// A directory holding `token`, `ca.crt` and `namespace` for the
    /// Pod's ServiceAccount.
    pub service_account_dir: &'a Path,
    /// Each hostPath the template names → where this machine keeps it.
    pub host_paths: &'a BTreeMap<String, PathBuf>,
    /// Where configMap volumes are written.
    pub volumes_dir: &'a Path,
}

/// A container to start, and how to probe it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ContainerPlan {
    /// The image reference.
    pub image: String,
    /// `podman run` options (before the image).
    pub options: Vec<String>,
    /// The arguments after the image.
    pub args: Vec<String>,
    /// The readiness probe: (host, port, path).
    pub readiness: Option<(String, u16, String)>,
    /// The liveness probe: (host, port, path).
    pub liveness: Option<(String, u16, String)>,
}

/// The DaemonSet named `name` among rendered manifests.
pub fn daemon_set<'a>(documents: &'a [Value], name: &str) -> Option<&'a Value> {
    documents.iter().find(|d| d["kind"] == "DaemonSet" && d["metadata"]["name"] == name)
}

/// The `podman run` plan for the DaemonSet's Pod on `node`; ConfigMaps are
/// looked up in `documents` (in the DaemonSet's namespace) and written
/// under `node.volumes_dir`.
///
/// # Errors
/// A message naming the first field this kubelet cannot reproduce.
pub fn plan(daemon_set: &Value, documents: &[Value], node: &Node<'_>) -> Result<ContainerPlan, String> {
    let namespace = daemon_set["metadata"]["namespace"].as_str().unwrap_or("default");
    let pod = &daemon_set["spec"]["template"]["spec"];
    let mut plan = ContainerPlan::default();
    let mut mounts: BTreeMap<String, (PathBuf, bool)> = BTreeMap::new();
    for (key, value) in fields(pod, "spec.template.spec")? {
        match key.as_str() {
            "containers" | "volumes" | "serviceAccountName" | "automountServiceAccountToken" => {}
            "hostNetwork" if *value == true => plan.options.push("--network=host".into()),
            // Scheduling and DNS: nothing to reproduce on one machine
            // (podman's host network uses the host's resolv.conf, which
            // is what ClusterFirstWithHostNet gives a node without a
            // cluster DNS).
            "tolerations" | "dnsPolicy" | "nodeSelector" | "priorityClassName" => {}
            other => return Err(format!("spec.template.spec.{other} is not reproduced by this kubelet")),
        }
    }
    let volumes = volumes(pod, namespace, documents, node)?;
    if pod["automountServiceAccountToken"] != false {
        mounts.insert(SERVICE_ACCOUNT_DIR.into(), (node.service_account_dir.to_owned(), true));
    }
    let containers = pod["containers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let [container] = containers else {
        return Err("spec.template.spec.containers: exactly one container is reproduced".into());
    };
    plan.options.push(format!("--name={}", node.pod_name));
    // Every container gets these, from the kubelet.
    plan.options.push(format!("--env=KUBERNETES_SERVICE_HOST={}", node.api_host));
    plan.options.push(format!("--env=KUBERNETES_SERVICE_PORT={}", node.api_port));
    for (key, value) in fields(container, "containers[0]")? {
        let at = format!("containers[0].{key}");
        match key.as_str() {
            "name" => {}
            "image" => plan.image = string(value, &at)?,
            "command" => plan.options.push(format!("--entrypoint={}", value)),
            "args" => plan.args = strings(value, &at)?,
            "env" => {
                for variable in value.as_array().into_iter().flatten() {
                    let name = string(&variable["name"], &format!("{at}.name"))?;
                    let text = env_value(variable, node, namespace, &format!("{at}[{name}]"))?;
                    plan.options.push(format!("--env={name}={text}"));
                }
            }
            "readinessProbe" => plan.readiness = Some(http_probe(value, &at)?),
            "livenessProbe" => plan.liveness = Some(http_probe(value, &at)?),
            "resources" => plan.options.extend(resources(value, &at)?),
            "securityContext" => plan.options.extend(security(value, &at)?),
            "volumeMounts" => {
                for mount in value.as_array().into_iter().flatten() {
                    let name = string(&mount["name"], &format!("{at}.name"))?;
                    let path = string(&mount["mountPath"], &format!("{at}[{name}].mountPath"))?;
                    let (source, always_read_only) = volumes
                        .get(&name)
                        .cloned()
                        .ok_or_else(|| format!("{at}[{name}]: no volume of that name"))?;
                    mounts.insert(path, (source, always_read_only || mount["readOnly"] == true));
                }
            }
            "imagePullPolicy" | "terminationMessagePath" | "terminationMessagePolicy" => {}
            other => return Err(format!("containers[0].{other} is not reproduced by this kubelet")),
        }
    }
    for (target, (source, read_only)) in mounts {
        let mode = if read_only { ":ro" } else { "" };
        plan.options.push(format!("--volume={}:{target}{mode}", source.display()));
    }
    Ok(plan)
}

/// The object's fields, or an error if it is not an object.
fn fields<'v>(value: &'v Value, at: &str) -> Result<&'v serde_json::Map<String, Value>, String> {
    value.as_object().ok_or_else(|| format!("{at} is not an object"))
}

fn string(value: &Value, at: &str) -> Result<String, String> {
    value.as_str().map(str::to_owned).ok_or_else(|| format!("{at} is not a string"))
}

fn strings(value: &Value, at: &str) -> Result<Vec<String>, String> {
    value.as_array().ok_or_else(|| format!("{at} is not a list"))?.iter().map(|v| string(v, at)).collect()
}

/// A variable's value: literal, or the downward API's fields a kubelet
/// fills in.
fn env_value(variable: &Value, node: &Node<'_>, namespace: &str, at: &str) -> Result<String, String> {
    if let Some(text) = variable["value"].as_str() {
        return Ok(text.to_owned());
    }
    match variable.pointer("/valueFrom/fieldRef/fieldPath").and_then(Value::as_str) {
        Some("spec.nodeName") => Ok(node.name.to_owned()),
        Some("metadata.name") => Ok(node.pod_name.to_owned()),
        Some("metadata.namespace") => Ok(namespace.to_owned()),
        Some("status.hostIP" | "status.podIP") => Ok("127.0.0.1".to_owned()),
        other => Err(format!("{at}: valueFrom {other:?} is not reproduced by this kubelet")),
    }
}

/// Volume name → (host directory, always read-only).
fn volumes(
    pod: &Value,
    namespace: &str,
    documents: &[Value],
    node: &Node<'_>,
) -> Result<BTreeMap<String, (PathBuf, bool)>, String> {
    let mut out = BTreeMap::new();
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        let name = string(&volume["name"], "spec.template.spec.volumes[].name")?;
        let at = format!("spec.template.spec.volumes[{name}]");
        if let Some(config_map) = volume["configMap"]["name"].as_str() {
            let found = documents
                .iter()
                .find(|d| {
                    d["kind"] == "ConfigMap"
                        && d["metadata"]["name"] == config_map
                        && d["metadata"]["namespace"].as_str().unwrap_or("default") == namespace
                })
                .ok_or_else(|| format!("{at}: ConfigMap {namespace}/{config_map} is not in deploy/"))?;
            let dir = node.volumes_dir.join(&name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{at}: {e}"))?;
            for (file, text) in found["data"].as_object().into_iter().flatten() {
                std::fs::write(dir.join(file), text.as_str().unwrap_or_default())
                    .map_err(|e| format!("{at}: {e}"))?;
            }
            // A kubelet always mounts configMap volumes read-only.
            out.insert(name, (dir, true));
        } else if let Some(path) = volume["hostPath"]["path"].as_str() {
            let here = node
                .host_paths
                .get(path)
                .ok_or_else(|| format!("{at}: hostPath {path} has no counterpart on this test's node"))?;
            if volume["hostPath"]["type"] == "Directory" && !here.is_dir() {
                return Err(format!("{at}: hostPath {path} (here {}) is not a directory", here.display()));
            }
            out.insert(name, (here.clone(), false));
        } else {
            return Err(format!("{at}: only configMap and hostPath volumes are reproduced"));
        }
    }
    Ok(out)
}

/// An httpGet probe: (host, port, path).
fn http_probe(probe: &Value, at: &str) -> Result<(String, u16, String), String> {
    let get = &probe["httpGet"];
    let port = get["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| format!("{at}.httpGet.port: only numeric ports are reproduced"))?;
    Ok((
        get["host"].as_str().unwrap_or("127.0.0.1").to_owned(),
        port,
        get["path"].as_str().unwrap_or("/").to_owned(),
    ))
}

/// Requests and limits as a kubelet passes them to the runtime: the
/// memory limit as the cgroup's limit, the CPU request as shares.
fn resources(resources: &Value, at: &str) -> Result<Vec<String>, String> {
    let mut options = vec![];
    if let Some(memory) = resources.pointer("/limits/memory").and_then(Value::as_str) {
        let bytes = quantity_bytes(memory).ok_or_else(|| format!("{at}.limits.memory: {memory:?}"))?;
        options.push(format!("--memory={bytes}"));
    }
    if let Some(cpu) = resources.pointer("/requests/cpu").and_then(Value::as_str) {
        let millis: u64 = match cpu.strip_suffix('m') {
            Some(m) => m.parse().map_err(|_| format!("{at}.requests.cpu: {cpu:?}"))?,
            None => cpu.parse::<u64>().map_err(|_| format!("{at}.requests.cpu: {cpu:?}"))? * 1000,
        };
        // kubelet's MilliCPUToShares, with its minimum of 2.
        options.push(format!("--cpu-shares={}", (millis * 1024 / 1000).max(2)));
    }
    Ok(options)
}

fn quantity_bytes(text: &str) -> Option<u64> {
    let units = [
        ("Ki", 1_u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("K", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<u64>().ok().map(|n| n * factor);
        }
    }
    text.parse().ok()
}

/// The container's securityContext as runtime options.
fn security(context: &Value, at: &str) -> Result<Vec<String>, String> {
    let mut options = vec![];
    let user = context["runAsUser"].as_u64();
    let group = context["runAsGroup"].as_u64();
    for (key, value) in fields(context, at)? {
        match key.as_str() {
            "runAsUser" | "runAsGroup" => {}
            "allowPrivilegeEscalation" if value == false => {
                options.push("--security-opt=no-new-privileges".into());
            }
            "allowPrivilegeEscalation" => {}
            "readOnlyRootFilesystem" if value == true => options.push("--read-only".into()),
            "readOnlyRootFilesystem" => options.push("--read-only=false".into()),
            "privileged" if value == true => options.push("--privileged".into()),
            "privileged" => {}
            "capabilities" => {
                for cap in value["drop"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    options.push(format!("--cap-drop={cap}"));
                }
                for cap in value["add"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    options.push(format!("--cap-add={cap}"));
                }
            }
            // podman's default seccomp profile is the runtime default.
            "seccompProfile" if value["type"] == "RuntimeDefault" => {}
            other => return Err(format!("{at}.{other} = {value} is not reproduced by this kubelet")),
        }
    }
    match (user, group) {
        (Some(user), Some(group)) => options.push(format!("--user={user}:{group}")),
        (Some(user), None) => options.push(format!("--user={user}")),
        _ => {}
    }
    Ok(options)
}
