//! The real kubectl against `tc-devcluster`: apply, get (tables, YAML,
//! field selectors), delete, watch, refusals with the validator's
//! messages, and state that survives a restart.

mod support;

use std::process::Stdio;
use std::time::Duration;

use datapath::validate::Validator;
use support::{DevCluster, lines_of, repo_root, text};

#[test]
fn the_seed_applies_then_is_unchanged_and_prints_the_crd_columns() {
    let cluster = DevCluster::start(None);
    let (created, warnings) = cluster.kubectl_warned(&["apply", "-f", "fixtures/seed/"]);
    assert_eq!(warnings, seed_warnings());
    assert_eq!(
        created.lines().collect::<Vec<_>>(),
        [
            "trafficcontrol.crd.antrea.io/mirror-all-to-remote created",
            "trafficcontrol.crd.antrea.io/mirror-web-app created",
            "trafficcontrol.crd.antrea.io/redirect-prod-to-local created",
        ]
    );
    let again = cluster.kubectl_ok(&["apply", "-f", "fixtures/seed/"]);
    assert!(again.lines().all(|l| l.ends_with(" unchanged")), "{again}");

    let table = cluster.kubectl_ok(&["get", "tc"]);
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAME", "DIRECTION", "ACTION", "AGE"]);
    assert_eq!(rows[2][..3], ["mirror-web-app", "Both", "Mirror"]);
    assert!(rows[2][3].ends_with('s'), "an age in seconds: {table}");
    assert_eq!(rows.len(), 4);

    let yaml = cluster.kubectl_ok(&["get", "tc", "mirror-web-app", "-o", "yaml"]);
    assert!(yaml.contains("kind: TrafficControl") && yaml.contains("remoteIP: 10.0.10.2"), "{yaml}");

    let deleted = cluster.kubectl_ok(&["delete", "tc", "mirror-web-app"]);
    assert_eq!(deleted.trim(), "trafficcontrol.crd.antrea.io \"mirror-web-app\" deleted");
    let (_, missing) = text(&cluster.kubectl(&["get", "tc", "mirror-web-app"]));
    assert!(missing.contains("NotFound"), "{missing}");

    let crd = cluster.kubectl_ok(&["apply", "-f", "deploy/crds/trafficcontrol.yaml"]);
    assert_eq!(
        crd.trim(),
        "customresourcedefinition.apiextensions.k8s.io/trafficcontrols.crd.antrea.io unchanged"
    );
}

/// The validator's warnings on the seed, which kubectl prints as
/// `Warning:` lines.
fn seed_warnings() -> Vec<String> {
    let validator = Validator::new();
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("fixtures/seed"))
        .expect("fixtures/seed")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            datapath::manifest::parse_documents(&text).expect("YAML")
        })
        .map(|document| validator.validate(&document))
        .flat_map(|report| {
            report
                .warnings()
                .map(|f| format!("{}: {}: {}", report.object, f.path, f.message))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What kubectl must print for one invalid fixture: the validator's lines,
/// or kubectl's own refusal where kubectl refuses before sending.
fn expected_lines(file: &str, text: &str) -> Vec<String> {
    match file {
        "missing-name.yaml" => return vec!["resource name may not be empty".into()],
        "wrong-api-version.yaml" => {
            return vec![
                "no matches for kind \"TrafficControl\" in version \"crd.antrea.io/v1alpha1\"".into(),
            ];
        }
        _ => {}
    }
    let validator = Validator::new();
    let documents = datapath::manifest::parse_documents(text).expect("the fixture is YAML");
    documents
        .iter()
        .filter(|d| d["kind"] == "TrafficControl")
        .map(|d| validator.validate(d))
        .flat_map(|report| {
            report
                .errors()
                .map(|f| format!("{}: {}: {}", report.object, f.path, f.message))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_invalid_fixture_is_refused_with_the_validators_message() {
    let cluster = DevCluster::start(None);
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join("fixtures/invalid"))
        .expect("fixtures/invalid")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 34, "{files:?}");
    let mut args = vec!["apply".to_owned()];
    for file in &files {
        args.extend(["-f".to_owned(), format!("fixtures/invalid/{file}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = cluster.kubectl(&args);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success());
    for file in &files {
        let fixture =
            std::fs::read_to_string(repo_root().join("fixtures/invalid").join(file)).expect("readable");
        let expected = expected_lines(file, &fixture);
        assert!(!expected.is_empty(), "{file} has no error");
        for line in expected {
            assert!(stderr.contains(&line), "{file}: kubectl did not print {line:?}\nstderr:\n{stderr}");
        }
    }
    // Only the valid documents of multi-document.yaml (and its ConfigMap)
    // were stored.
    assert!(!stderr.contains("openapi"), "{stderr}");
    assert!(stdout.contains("trafficcontrol.crd.antrea.io/first-ok created"), "{stdout}");
    let stored = cluster.kubectl_ok(&["get", "tc", "-o", "name"]);
    assert_eq!(
        stored.lines().collect::<Vec<_>>(),
        ["trafficcontrol.crd.antrea.io/first-ok", "trafficcontrol.crd.antrea.io/third-ok"]
    );
}

#[test]
fn cluster_fixtures_apply_and_pods_filter_by_node() {
    let cluster = DevCluster::start(None);
    let applied = cluster.kubectl_ok(&["apply", "-f", "fixtures/cluster/"]);
    assert!(applied.contains("namespace/prod created") && applied.contains("pod/web-1 created"), "{applied}");
    let on_node_1 =
        cluster.kubectl_ok(&["get", "pods", "-A", "--field-selector", "spec.nodeName=node-1", "-o", "name"]);
    assert!(on_node_1.contains("pod/web-1") && on_node_1.contains("pod/db"), "{on_node_1}");
    assert!(!on_node_1.contains("pod/web-3"), "web-3 runs on node-2: {on_node_1}");
    let wide = cluster.kubectl_ok(&["get", "pods", "-o", "wide", "-l", "app=web"]);
    assert!(wide.lines().next().is_some_and(|h| h.contains("READY") && h.contains("NODE")), "{wide}");
    assert!(wide.contains("10.10.0.11"), "{wide}");
    let again = cluster.kubectl_ok(&["apply", "-f", "fixtures/cluster/"]);
    assert!(again.lines().all(|l| l.ends_with(" unchanged")), "{again}");
}

#[test]
fn get_pods_watch_streams_a_label_change() {
    let cluster = DevCluster::start(None);
    cluster.kubectl_ok(&["apply", "-f", "fixtures/cluster/"]);
    let mut watch = cluster
        .kubectl_command(&["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl get -w");
    let lines = lines_of(&mut watch);
    let next = || lines.recv_timeout(Duration::from_secs(3)).expect("a line from kubectl get -w");
    assert!(next().starts_with("NAME"));
    let listed: Vec<String> = (0..5).map(|_| next()).collect();
    assert!(listed.iter().any(|l| l.starts_with("web-1 ")), "{listed:?}");
    cluster.kubectl_ok(&["label", "pod", "web-2", "tier=front"]);
    let changed = next();
    assert!(changed.starts_with("web-2 "), "{changed}");
    // The process we started, by its own handle.
    watch.kill().expect("kubectl get -w stops");
    let _ = watch.wait();
}

#[test]
fn the_data_dir_keeps_objects_and_versions_across_a_restart() {
    let data = tempfile::tempdir().expect("a data directory");
    let cluster = DevCluster::start(Some(data.path()));
    cluster.kubectl_warned(&["apply", "-f", "fixtures/seed/"]);
    let version = |cluster: &DevCluster| {
        cluster.kubectl_ok(&["get", "tc", "mirror-web-app", "-o", "jsonpath={.metadata.resourceVersion}"])
    };
    let before = version(&cluster);
    let list = cluster.http_get("/apis/crd.antrea.io/v1alpha2/trafficcontrols");
    let list: serde_json::Value =
        serde_json::from_str(list.split("\r\n\r\n").nth(1).unwrap_or_default()).expect("a JSON list");
    let list_version = list["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_owned();
    cluster.kubectl_ok(&["apply", "-f", "deploy/namespace.yaml", "-f", "deploy/rbac.yaml"]);
    let token = cluster.kubectl_ok(&["create", "token", "tc-agent", "-n", "tc-system"]);
    let ca =
        std::fs::read_to_string(cluster.dir.path().join("ca.crt")).expect("ca.crt beside the kubeconfig");
    cluster.stop();

    let cluster = DevCluster::start(Some(data.path()));
    assert_eq!(version(&cluster), before);
    // The CA and the tokens issued before the restart are still good.
    let ca_after = std::fs::read_to_string(cluster.dir.path().join("ca.crt")).expect("ca.crt");
    assert_eq!(ca_after, ca, "the same CA after a restart");
    let (code, body) =
        cluster.client().with_token(token.trim()).request("GET", "/version", None).expect("answer");
    assert_eq!(code, 200, "a token from before the restart: {body}");
    let names = cluster.kubectl_ok(&["get", "tc", "-o", "name"]);
    assert_eq!(names.lines().count(), 3, "{names}");
    cluster.kubectl_ok(&["label", "tc", "mirror-web-app", "after=restart"]);
    let after: u64 = version(&cluster).parse().expect("a number");
    let list_version: u64 = list_version.parse().expect("a number");
    assert!(
        after > list_version,
        "a write after the restart gets a newer version: {after} <= {list_version}"
    );
    assert!(after > before.parse().expect("a number"));

    // A watch from before the restart must relist, as kube-rs's watcher does.
    let watch = cluster.http_get(&format!(
        "/apis/crd.antrea.io/v1alpha2/trafficcontrols?watch=true&resourceVersion={before}&allowWatchBookmarks=true&timeoutSeconds=2"
    ));
    assert!(watch.contains(r#""type":"ERROR""#) && watch.contains(r#""code":410"#), "{watch}");
}

/// What a cluster operator runs first: the kustomization renders and
/// passes kubectl's client-side dry run, then applies, and the CRD
/// directory applies alone.
#[test]
fn the_deploy_kustomization_dry_runs_and_applies() {
    let cluster = DevCluster::start(None);
    let dry = cluster.kubectl_ok(&["apply", "-k", "deploy/", "--dry-run=client"]);
    let kinds: Vec<&str> = dry.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(
        kinds,
        [
            "namespace/tc-system",
            "customresourcedefinition.apiextensions.k8s.io/trafficcontrols.crd.antrea.io",
            "serviceaccount/tc-agent",
            "clusterrole.rbac.authorization.k8s.io/tc-agent",
            "clusterrolebinding.rbac.authorization.k8s.io/tc-agent",
            "configmap/tc-agent-config",
            "daemonset.apps/tc-agent",
        ],
        "{dry}"
    );
    assert!(dry.lines().all(|l| l.ends_with("(dry run)")), "{dry}");
    let crds = cluster.kubectl_ok(&["apply", "-f", "deploy/crds/"]);
    assert!(crds.contains("trafficcontrols.crd.antrea.io"), "{crds}");
    cluster.kubectl_ok(&["apply", "-k", "deploy/"]);
    let daemonset = cluster.kubectl_ok(&["get", "daemonset", "tc-agent", "-n", "tc-system", "-o", "yaml"]);
    assert!(daemonset.contains("serviceAccountName: tc-agent"), "{daemonset}");
    let binding = cluster.kubectl_ok(&["get", "clusterrolebinding", "tc-agent", "-o", "yaml"]);
    assert!(binding.contains("namespace: tc-system"), "{binding}");
}

/// Runs kubectl and returns (success, stdout, stderr) without judging.
fn kubectl_any(cluster: &DevCluster, args: &[&str]) -> (bool, String, String) {
    let output = cluster.kubectl(args);
    let (stdout, stderr) = text(&output);
    (output.status.success(), stdout, stderr)
}

#[test]
fn tokens_from_create_token_act_as_the_service_account_under_deploys_rbac() {
    let cluster = DevCluster::start(None);
    cluster.kubectl_ok(&["apply", "-k", "deploy/"]);
    let token = cluster.kubectl_ok(&["create", "token", "tc-agent", "-n", "tc-system"]);
    let token = format!("--token={}", token.trim());
    assert_eq!(token.matches('.').count(), 2, "a JWT: {token}");

    // What the ClusterRole grants works; anything else is a 403 that reads
    // as the API server's.
    let pods = kubectl_any(&cluster, &[&token, "get", "pods", "-A"]);
    assert!(pods.0 && pods.2.contains("No resources found"), "{pods:?}");
    kubectl_any(&cluster, &[&token, "get", "trafficcontrols"]).0.then_some(()).expect("list trafficcontrols");
    let (ok, _, stderr) = kubectl_any(&cluster, &[&token, "get", "configmaps", "-n", "tc-system"]);
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "Error from server (Forbidden): configmaps is forbidden: User \"system:serviceaccount:tc-system:tc-agent\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"tc-system\""
    );
    let (ok, _, stderr) = kubectl_any(&cluster, &[&token, "delete", "tc", "whatever"]);
    assert!(
        !ok && stderr.contains("(Forbidden)")
            && stderr.contains("cannot delete resource \"trafficcontrols\""),
        "{stderr}"
    );
    let (ok, _, stderr) = kubectl_any(&cluster, &[&token, "create", "token", "tc-agent", "-n", "tc-system"]);
    assert!(!ok && stderr.contains("cannot create resource \"serviceaccounts/token\""), "{stderr}");

    // kubectl auth can-i, as the agent (its token) and for it (--as).
    let can = |args: &[&str]| {
        let (ok, stdout, stderr) = kubectl_any(&cluster, &[&["auth", "can-i"], args].concat());
        assert!(stdout.trim() == if ok { "yes" } else { "no" }, "{args:?}: {stdout} {stderr}");
        ok
    };
    let agent = "--as=system:serviceaccount:tc-system:tc-agent";
    assert!(can(&["list", "pods", "--all-namespaces", agent]));
    assert!(can(&["watch", "namespaces", agent]));
    assert!(can(&["patch", "trafficcontrols.crd.antrea.io", "--subresource=status", agent]));
    assert!(can(&["create", "events", "-n", "default", agent]));
    assert!(can(&["list", "nodes", agent]));
    assert!(!can(&["patch", "trafficcontrols.crd.antrea.io", agent]));
    assert!(!can(&["get", "secrets", "-n", "tc-system", agent]));
    assert!(!can(&["create", "pods", "-n", "default", agent]));
    assert!(!can(&["list", "pods", "--all-namespaces", "--as=system:serviceaccount:default:default"]));
    assert!(can(&["watch", "trafficcontrols.crd.antrea.io", &token]));
    assert!(!can(&["delete", "namespaces", &token]));
    assert!(can(&["delete", "namespaces"]), "the kubeconfig's user is an administrator");

    // --list: the agent's whole grant, as kubectl prints it.
    let list = cluster.kubectl_ok(&["auth", "can-i", "--list", agent]);
    let row = |resource: &str| {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(resource))
            .map(|l| l.split_whitespace().last())
    };
    assert_eq!(row("pods"), Some(Some("watch]")), "{list}");
    assert_eq!(row("trafficcontrols.crd.antrea.io/status"), Some(Some("[patch]")), "{list}");
    assert_eq!(row("nodes"), Some(Some("[list]")), "{list}");
    assert_eq!(row("secrets"), None, "{list}");
}

#[test]
fn no_token_a_bad_token_or_an_untrusted_server_gets_nothing() {
    let cluster = DevCluster::start(None);
    cluster.kubectl_ok(&["apply", "-k", "deploy/"]);
    let (ok, _, stderr) = kubectl_any(&cluster, &["--token=not-a-token", "get", "pods"]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "error: You must be logged in to the server (Unauthorized)");
    let raw = cluster.client().with_token("");
    let (code, body) = raw.request("GET", "/version", None).expect("an answer");
    assert_eq!(code, 401, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("a Status");
    assert_eq!(
        (status["reason"].as_str(), status["message"].as_str()),
        (Some("Unauthorized"), Some("Unauthorized"))
    );

    // A token stops working when its ServiceAccount goes.
    let token = cluster.kubectl_ok(&["create", "token", "tc-agent", "-n", "tc-system"]);
    let token = format!("--token={}", token.trim());
    assert!(kubectl_any(&cluster, &[&token, "get", "pods", "-A"]).0);
    cluster.kubectl_ok(&["delete", "serviceaccount", "tc-agent", "-n", "tc-system"]);
    let (ok, _, stderr) = kubectl_any(&cluster, &[&token, "get", "pods", "-A"]);
    assert!(!ok && stderr.contains("Unauthorized"), "{stderr}");

    // HTTPS for real: a client that does not trust the server's CA stops.
    let (ok, _, stderr) =
        kubectl_any(&cluster, &["--certificate-authority=/etc/ssl/certs/ca-certificates.crt", "get", "ns"]);
    assert!(!ok && stderr.contains("certificate signed by unknown authority"), "{stderr}");
}
