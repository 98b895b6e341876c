//! `tcctl`: the TrafficControl agent's command-line tool.
//!
//! - `tcctl crd`: the CRD, as `kubectl apply -f -` takes it;
//! - `tcctl validate FILE...`: every problem of every TrafficControl;
//! - `tcctl plan -f PATH...`: what the agent would do on a node;
//! - `tcctl status [--agent URL]`: what a running agent realized, and
//!   whether the switch's flows equal its plan.
//!
//! Exit codes: 0 all good, 1 an invalid TrafficControl (or, for `status`,
//! a switch that does not hold the plan), 2 a file that cannot be read or
//! parsed, an agent that cannot be reached (or bad usage).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use datapath::manifest::parse_documents;
use datapath::offline::{Objects, plan_offline};
use datapath::plan::BridgeMode;
use datapath::status::AgentStatus;
use datapath::validate::Validator;

#[derive(Parser)]
#[command(name = "tcctl", version, about = "TrafficControl for Open vSwitch: validate, plan and inspect")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the TrafficControl CustomResourceDefinition.
    Crd,
    /// Check TrafficControls in YAML/JSON files (`-` reads stdin); other kinds are skipped.
    Validate {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show the ports, effective TrafficControls and flows for one node.
    Plan {
        /// Manifests with TrafficControls, Namespaces and Pods (files or directories; repeatable).
        #[arg(short = 'f', long = "filename", required = true)]
        paths: Vec<PathBuf>,
        /// The node to plan for (default: the only node the Pods are on).
        #[arg(long)]
        node: Option<String>,
        /// How the agent realizes TrafficControls on the bridge (its
        /// trafficControl.bridgeMode): shared (Mirror rows) or owned (flows).
        #[arg(long, value_enum, default_value_t = Mode::Shared)]
        bridge_mode: Mode,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Ask a running agent what it realized and whether the switch holds its plan.
    Status {
        /// The agent's endpoint (its --listen address).
        #[arg(long, default_value = "http://127.0.0.1:9101")]
        agent: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Shared,
    Owned,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// How a run ended.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok = 0,
    Invalid = 1,
    Unreadable = 2,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => print(&datapath::api::crd_yaml()).map(|()| Outcome::Ok),
        Command::Validate { files } => validate(&files),
        Command::Plan { paths, node, bridge_mode, format } => {
            let mode = match bridge_mode {
                Mode::Shared => BridgeMode::Shared,
                Mode::Owned => BridgeMode::Owned,
            };
            plan(&paths, node.as_deref(), mode, format)
        }
        Command::Status { agent, format } => status(&agent, format),
    };
    match result {
        Ok(outcome) => ExitCode::from(outcome as u8),
        Err(error) => {
            eprintln!("tcctl: {error:#}");
            ExitCode::from(Outcome::Unreadable as u8)
        }
    }
}

fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}

/// Reads and parses one file (`-` is stdin), naming the file and line on
/// failure.
fn read_documents(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?
    };
    parse_documents(&text).with_context(|| format!("{}: not valid YAML", path.display()))
}

fn validate(files: &[PathBuf]) -> Result<Outcome> {
    let validator = Validator::new();
    let mut outcome = Outcome::Ok;
    let mut out = String::new();
    for file in files {
        let documents = match read_documents(file) {
            Ok(documents) => documents,
            Err(error) => {
                eprintln!("{error:#}");
                outcome = outcome.max(Outcome::Unreadable);
                continue;
            }
        };
        let mut objects = Objects::default();
        objects.add_documents(&validator, documents);
        for report in &objects.traffic_controls {
            out.push_str(&report.to_string());
            if !report.is_valid() {
                outcome = outcome.max(Outcome::Invalid);
            }
        }
    }
    print(&out)?;
    Ok(outcome)
}

/// The manifest files under `paths`: files as given, directories' `.yaml`,
/// `.yml` and `.json` files in name order (not recursive, as `kubectl -f`).
fn manifest_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("{}: cannot list", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn plan(paths: &[PathBuf], node: Option<&str>, mode: BridgeMode, format: Format) -> Result<Outcome> {
    let validator = Validator::new();
    let mut objects = Objects::default();
    for file in manifest_files(paths)? {
        objects.add_documents(&validator, read_documents(&file)?);
    }
    let mut outcome = Outcome::Ok;
    for report in objects.traffic_controls.iter().filter(|r| !r.is_valid()) {
        eprint!("{report}");
        eprintln!("{}: left out of the plan", report.object);
        outcome = Outcome::Invalid;
    }
    let node = match node {
        Some(node) => node.to_owned(),
        None => only_node(&objects)?,
    };
    let plan = plan_offline(&node, &objects, mode);
    let text = match format {
        Format::Text => format!("# node {node}\n# bridge mode {}\n{}", mode.name(), plan.render()),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&plan).context("rendering JSON")?;
            json.push('\n');
            json
        }
    };
    print(&text)?;
    Ok(outcome)
}

fn only_node(objects: &Objects) -> Result<String> {
    let nodes: std::collections::BTreeSet<&str> =
        objects.pods.iter().filter_map(|p| p.node_name.as_deref()).collect();
    match nodes.len() {
        1 => Ok(nodes.into_iter().next().unwrap_or_default().to_owned()),
        0 => bail!("no Pod has spec.nodeName: say which node to plan for with --node"),
        _ => bail!(
            "the Pods are on several nodes ({}): choose one with --node",
            nodes.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// `tcctl status`: the agent's `/status`, for a person.
fn status(agent: &str, format: Format) -> Result<Outcome> {
    let body = http_get(agent, "/status")?;
    let document: AgentStatus = serde_json::from_str(&body)
        .with_context(|| format!("{agent}/status did not answer an agent status document"))?;
    match format {
        Format::Json => print(&format!("{}\n", serde_json::to_string_pretty(&document)?))?,
        Format::Text => print(&document.render())?,
    }
    Ok(if document.is_healthy() { Outcome::Ok } else { Outcome::Invalid })
}

/// A plain HTTP/1.0 GET: the agent's endpoint is local and unencrypted,
/// and this keeps tcctl free of an HTTP client stack.
fn http_get(base: &str, path: &str) -> Result<String> {
    let address = base.trim_start_matches("http://").trim_end_matches('/');
    if address.contains("://") {
        bail!("{base}: only http:// agent endpoints are supported");
    }
    let mut stream = std::net::TcpStream::connect(address).with_context(|| {
        format!("cannot reach the agent at {base} (is tc-agent running? see its --listen)")
    })?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response).with_context(|| format!("no answer from {base}{path}"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status_line = head.lines().next().unwrap_or_default();
    if !status_line.contains(" 200 ") {
        bail!("{base}{path} answered {status_line}");
    }
    Ok(body.to_owned())
}
