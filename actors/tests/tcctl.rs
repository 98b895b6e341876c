//! `tcctl` as a user runs it: output, exit codes, files, stdin.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn tcctl(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcctl"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcctl starts");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or_default().as_bytes()).expect("stdin written");
    drop(input);
    let output = child.wait_with_output().expect("tcctl finishes");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots/validate");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn every_invalid_fixture_is_refused_with_its_reasons() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/invalid"))
        .expect("fixtures/invalid")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "one fixture per rule");
    for file in files {
        let relative = file.strip_prefix(root()).expect("under root").to_string_lossy().into_owned();
        let run = tcctl(&["validate", &relative], None);
        assert_eq!(run.code, 1, "{relative}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.is_empty(), "{relative}: {}", run.stderr);
        let name = file.file_stem().expect("stem").to_string_lossy().into_owned();
        snapshot(&name, &format!("$ tcctl validate {relative}\n{}(exit {})\n", run.stdout, run.code));
    }
}

#[test]
fn the_seed_examples_and_warnings_are_accepted() {
    let run = tcctl(
        &[
            "validate",
            "fixtures/seed/mirror-web-app.yaml",
            "fixtures/seed/mirror-all-to-remote.yaml",
            "fixtures/seed/redirect-prod-to-local.yaml",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(
            "tc/mirror-web-app: ok\ntc/mirror-all-to-remote: ok\ntc/redirect-prod-to-local: ok\n"
        ),
        "{}",
        run.stdout
    );
    let mut warnings: Vec<String> = std::fs::read_dir(root().join("fixtures/warnings"))
        .expect("fixtures/warnings")
        .map(|e| format!("fixtures/warnings/{}", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    warnings.sort();
    let args: Vec<&str> = std::iter::once("validate").chain(warnings.iter().map(String::as_str)).collect();
    let run = tcctl(&args, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("warnings", &run.stdout);
}

#[test]
fn stdin_is_read_for_a_dash() {
    let text = std::fs::read_to_string(root().join("fixtures/seed/mirror-web-app.yaml")).expect("fixture");
    let run = tcctl(&["validate", "-"], Some(&text));
    assert_eq!((run.code, run.stdout.as_str()), (0, "tc/mirror-web-app: ok\n"));
}

#[test]
fn unparsable_and_missing_files_exit_2_and_name_the_file_and_line() {
    let run = tcctl(
        &["validate", "-", "no/such/file.yaml", "fixtures/seed/mirror-web-app.yaml"],
        Some("kind: TrafficControl\nspec: [\n"),
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("-: not valid YAML: line "), "{}", run.stderr);
    assert!(run.stderr.contains("no/such/file.yaml: cannot read"), "{}", run.stderr);
    // The good file is still checked.
    assert_eq!(run.stdout, "tc/mirror-web-app: ok\n");
}

#[test]
fn other_kinds_are_skipped() {
    let run = tcctl(&["validate", "fixtures/cluster/pods.yaml"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""));
}

#[test]
fn plan_prints_the_sections_for_a_node() {
    let run = tcctl(&["plan", "-f", "fixtures/seed", "-f", "fixtures/cluster", "--node", "node-1"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for section in [
        "# node node-1\n",
        "# bridge mode shared\n",
        "# ports\n",
        "# effective\n",
        "# traffic controls\n",
        "# flows\n",
        "# mirrors\n",
    ] {
        assert!(run.stdout.contains(section), "missing {section:?}");
    }
    // On a shared bridge: a mirror, no flow, no return port (the seed's
    // third example mirrors).
    assert!(run.stdout.contains("tc-geneve-99a006 output=geneve-99a006 select_src_port="), "{}", run.stdout);
    assert!(
        run.stdout.contains("tc/redirect-prod-to-local: realized; 0 pods, target tap0; "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.split("# flows\n").nth(1).is_some_and(|rest| rest.starts_with("# mirrors\n")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("conflict: prod/web-prod is controlled by tc/mirror-all-to-remote"));
}

#[test]
fn plan_json_has_ports_effective_conflicts_and_flows() {
    let run = tcctl(
        &[
            "plan",
            "-f",
            "fixtures/seed/redirect-prod-to-local.yaml",
            "-f",
            "fixtures/cluster",
            "--node",
            "node-1",
            "--bridge-mode",
            "owned",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(plan["effective"]["prod/db"], "redirect-prod-to-local");
    assert_eq!(plan["ports"]["tap1"]["roles"], serde_json::json!(["Return"]));
    assert!(
        plan["flows"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f.as_str().is_some_and(|f| f.contains("in_port="))))
    );
}

#[test]
fn plan_needs_a_node_when_pods_are_on_several() {
    let run = tcctl(&["plan", "-f", "fixtures/cluster"], None);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("the Pods are on several nodes (node-1, node-2): choose one with --node"),
        "{}",
        run.stderr
    );
}

#[test]
fn plan_leaves_out_an_invalid_traffic_control_and_plans_the_rest() {
    let run = tcctl(
        &["plan", "-f", "fixtures/invalid/multi-document.yaml", "-f", "fixtures/cluster", "--node", "node-1"],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("tc/second-bad: left out of the plan"), "{}", run.stderr);
    assert!(
        run.stdout.contains("tc/first-ok: realized") && run.stdout.contains("tc/third-ok: realized"),
        "{}",
        run.stdout
    );
}

#[test]
fn crd_prints_the_deployed_file() {
    let run = tcctl(&["crd"], None);
    let deployed =
        std::fs::read_to_string(root().join("deploy/crds/trafficcontrol.yaml")).expect("deployed CRD");
    assert_eq!((run.code, run.stdout), (0, deployed));
}
