//! `tc-devcluster`: a Kubernetes API server subset on 127.0.0.1, over
//! HTTPS with its own CA, bearer tokens and RBAC, for kubectl and kube-rs
//! clients in development and tests.
//!
//! ```text
//! tc-devcluster --port 0 --kubeconfig-out /tmp/kubeconfig [--data-dir /tmp/state]
//! ```
//!
//! It writes `ca.crt` and the administrator's kubeconfig beside it, then
//! prints one ready line on stdout:
//! `tc-devcluster ready: https://127.0.0.1:PORT kubeconfig=FILE`. It stops
//! on SIGTERM or Ctrl-C; with `--data-dir` every write is already saved,
//! and the CA and tokens stay valid across restarts.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use devcluster::ApiServer;
use devcluster::server::system_clock;
use devcluster::socket::kubeconfig::write_kubeconfig;
use devcluster::socket::persist::load_or_create_credentials;
use devcluster::socket::tls;
use tracing::info;

/// A Kubernetes API server subset (Namespaces, Pods, Events,
/// TrafficControls, CRDs, RBAC, ServiceAccount tokens) for kubectl and
/// kube-rs, over HTTPS.
#[derive(Parser, Debug)]
#[command(name = "tc-devcluster", version)]
struct Args {
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long)]
    port: u16,
    /// Where to write the kubeconfig that points at this server.
    #[arg(long)]
    kubeconfig_out: PathBuf,
    /// Where the state is kept across restarts (in memory without it).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(dir) = &args.data_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let credentials = load_or_create_credentials(args.data_dir.as_deref())?;
    let serving = tls::serving(args.data_dir.as_deref()).context("cannot set up TLS")?;
    let admin_token = credentials.admin_token().to_owned();
    let server = ApiServer::open(system_clock(), args.data_dir.clone(), credentials)?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let address = listener.local_addr()?;
    write_kubeconfig(&args.kubeconfig_out, address, &serving.ca_pem, &admin_token)?;
    println!("tc-devcluster ready: https://{address} kubeconfig={}", args.kubeconfig_out.display());
    info!(%address, "serving");
    tokio::select! {
        served = server.serve(listener, serving.acceptor) => served.context("accepting connections failed")?,
        signal = shutdown() => {
            signal?;
            info!("stopping");
        }
    }
    Ok(())
}

/// Waits for SIGTERM or Ctrl-C.
async fn shutdown() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        interrupted = tokio::signal::ctrl_c() => interrupted?,
    }
    Ok(())
}
