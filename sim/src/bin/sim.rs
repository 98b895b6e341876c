//! `sim`: plays seeded scenarios in the deterministic world and reports
//! seeds per second and every failure with the command that replays it.
//!
//! ```text
//! cargo run -p sim --release -- --seeds 1000                 # every scenario
//! cargo run -p sim --release -- --scenario churn --seed 42   # one seed, with logs
//! ```

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Instant;

use actors::agent::reconciler::{PortDeletion, Tuning};
use clap::Parser;
use sim::scenario::{self, Scenario};

/// Plays seeded scenarios against the real agent actors and a simulated
/// Open vSwitch, checking convergence and the safety rules.
#[derive(Parser, Debug)]
#[command(name = "sim")]
struct Args {
    /// How many seeds to play per scenario (from `--first`).
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Play only this seed (logs go to stderr; RUST_LOG filters them).
    #[arg(long)]
    seed: Option<u64>,
    /// Only this scenario: examples, matrix, churn, shared-examples or
    /// shared-churn.
    #[arg(long)]
    scenario: Option<String>,
    /// Run the agent with its ports deleted before their flows (a
    /// deliberate bug) to watch the invariants catch it.
    #[arg(long)]
    deliberate_bug: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let scenarios = match args.scenario.as_deref().map(Scenario::from_name) {
        None => Scenario::ALL.to_vec(),
        Some(Some(scenario)) => vec![scenario],
        Some(None) => {
            let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
            eprintln!("sim: --scenario: unknown; choose one of {}", names.join(", "));
            return ExitCode::from(2);
        }
    };
    let seeds = match args.seed {
        Some(seed) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            seed..seed + 1
        }
        None => args.first..args.first + args.seeds,
    };
    if let Some(seed) = args.seed {
        for scenario in &scenarios {
            eprintln!("{}", scenario::seed_line(*scenario, seed, &scenario.generate(seed)));
        }
    }
    let port_deletion =
        if args.deliberate_bug { PortDeletion::BeforeFlowsDeliberateBug } else { PortDeletion::AfterFlows };
    let tuning = Tuning { port_deletion, ..Tuning::default() };
    let mut failures = Vec::new();
    for scenario in scenarios {
        let started = Instant::now();
        let mut virtual_secs = 0.0;
        let total = seeds.end - seeds.start;
        for (done, seed) in seeds.clone().enumerate() {
            match scenario::run(scenario, seed, tuning.clone()) {
                Ok(outcome) => virtual_secs += outcome.virtual_time.as_secs_f64(),
                Err(failure) => {
                    eprintln!("\n{failure}\n");
                    failures.push(failure.replay());
                }
            }
            progress(scenario, done as u64 + 1, total, failures.len(), started);
        }
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!(
            "\r{:<9} {total} seeds in {elapsed:.1} s: {:.1} seeds/s, {:.0}x virtual time",
            scenario.name(),
            total as f64 / elapsed.max(1e-9),
            virtual_secs / elapsed.max(1e-9),
        );
    }
    if failures.is_empty() {
        eprintln!("every seed converged with every safety rule kept");
        ExitCode::SUCCESS
    } else {
        eprintln!("{} failing seeds; replay with:", failures.len());
        for replay in &failures {
            eprintln!("  {replay}");
        }
        ExitCode::FAILURE
    }
}

/// A bar on a terminal; elsewhere (CI logs) a line every tenth.
fn progress(scenario: Scenario, done: u64, total: u64, failed: usize, started: Instant) {
    const WIDTH: u64 = 30;
    if !std::io::stderr().is_terminal() {
        if done == total || done.is_multiple_of((total / 10).max(1)) {
            eprintln!("{:<9} {done}/{total} seeds, {failed} failed", scenario.name());
        }
        return;
    }
    let filled = usize::try_from(done * WIDTH / total.max(1)).unwrap_or(0);
    let bar = format!("{}{}", "#".repeat(filled), "-".repeat(WIDTH as usize - filled));
    let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
    eprint!("\r{:<9} [{bar}] {done}/{total} {rate:.1} seeds/s {failed} failed", scenario.name());
    let _ = std::io::stderr().flush();
}
