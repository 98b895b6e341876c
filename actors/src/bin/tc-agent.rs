//! `tc-agent`: the node agent. Watches Pods, Namespaces and
//! TrafficControls, realizes them on this node's Open vSwitch bridge, and
//! reports back (status, Events, metrics).
//!
//! Exit codes: 0 after SIGTERM/Ctrl-C, 1 a failure while running, 2 a
//! configuration it cannot start with.

use std::path::PathBuf;
use std::process::ExitCode;

use actors::agent::connector::SocketConnector;
use actors::agent::reconciler::Tuning;
use actors::agent::state::AgentState;
use actors::agent::{http, owned_bridge, runner};
use actors::config::{AgentConfig, Overrides};
use actors::host_network::HostNetworkSource;
use anyhow::{Context, Result};
use clap::Parser;
use datapath::plan::BridgeMode;
use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(Parser)]
#[command(name = "tc-agent", version, about = "TrafficControl for Open vSwitch: the node agent")]
struct Cli {
    /// The agent configuration (antrea-agent.conf's shape).
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// This node's name (default: NODE_NAME, then the file's nodeName).
    #[arg(long)]
    node_name: Option<String>,
    /// A kubeconfig (default: the file's clientConnection.kubeconfig, then in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Where /healthz, /readyz, /metrics and /status listen.
    #[arg(long, default_value = "127.0.0.1:9101")]
    listen: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: under a kubelet (`kubectl logs`) or
        // into a file, escape codes would only garble the lines.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let overrides = Overrides {
        node_name: cli.node_name.clone(),
        node_name_env: std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()),
        kubeconfig: cli.kubeconfig.clone(),
    };
    let config = match std::fs::read_to_string(&cli.config)
        .with_context(|| format!("cannot read {}", cli.config.display()))
        .and_then(|text| Ok(AgentConfig::parse(&cli.config, &text, &overrides)?))
    {
        Ok(config) => config,
        Err(error) => {
            eprintln!("tc-agent: {error:#}");
            return ExitCode::from(2);
        }
    };
    let system = actix_rt::System::new();
    match system.block_on(run(config, &cli.listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(error)) => {
            eprintln!("tc-agent: {error:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("tc-agent: {error:#}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    /// Nothing ran: exit code 2.
    Config(anyhow::Error),
    /// Exit code 1.
    Runtime(anyhow::Error),
}

async fn run(config: AgentConfig, listen: &str) -> Result<(), Failure> {
    let state = AgentState::new(config.node_name.clone(), config.bridge_mode);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))
        .map_err(Failure::Config)?;
    if !config.traffic_control_enabled {
        tracing::warn!(
            "the TrafficControl feature gate is off (featureGates.TrafficControl): this agent realizes nothing"
        );
        // Healthy and ready: doing nothing is what it was asked to do.
        state.set_idle();
        actix_rt::spawn(http::serve(listener, state, None));
        return wait_for_signal().await.map_err(Failure::Runtime);
    }
    let client = kube_client(&config).await.map_err(Failure::Config)?;
    tracing::info!(
        node = %config.node_name,
        bridge = %config.bridge,
        mode = config.bridge_mode.name(),
        ovsdb = %config.ovsdb,
        openflow = %config.openflow,
        "starting"
    );
    let connector = SocketConnector { ovsdb: config.ovsdb.clone(), openflow: config.openflow.clone() };
    if config.bridge_mode == BridgeMode::Owned {
        tokio::select! {
            checked = owned_bridge::check(&connector, &config.bridge) => {
                checked.map_err(|refusal| Failure::Config(refusal.into()))?;
            }
            stopped = wait_for_signal() => return stopped.map_err(Failure::Runtime),
        }
    }
    let agent = runner::start(connector, config.bridge.clone(), state.clone(), Some(client), tuning(&config));
    actix_rt::spawn(http::serve(listener, state, Some(agent.readers)));
    wait_for_signal().await.map_err(Failure::Runtime)?;
    // Flows and ports stay: a restarted agent finds them in place and
    // changes nothing, and traffic is not disturbed meanwhile.
    tracing::info!("stopping; the switch keeps its flows");
    Ok(())
}

async fn kube_client(config: &AgentConfig) -> Result<kube::Client> {
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("the kubeconfig {} is not usable", path.display()))?
        }
        None => kube::Config::incluster()
            .context("no kubeconfig given and not running in a cluster (no service account)")?,
    };
    kube::Client::try_from(kube_config).context("cannot build the Kubernetes client")
}

async fn wait_for_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        _ = terminate.recv() => {}
        result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
    }
    Ok(())
}

/// The agent's timing, and where it reads the node's network from: its
/// own namespace unless the configuration names another.
fn tuning(config: &AgentConfig) -> Tuning {
    let host_network = config.host_netns.clone().map_or(HostNetworkSource::Own, HostNetworkSource::Netns);
    Tuning { host_network, ..Tuning::default() }
}
