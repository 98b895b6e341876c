//! Soak: the real `tc-agent` (a process) on a private switch against
//! `tc-devcluster`, for `--minutes` under continuous churn, checking after
//! every step that the switch converges to what the API says, restarting
//! ovs-vswitchd every few minutes, and watching the agent's RSS and file
//! descriptors stay flat after warm-up. At the end it deletes everything
//! it created and checks that nothing of the agent's is left on the switch.
//!
//! - `churn`: the seeded steps and doing them (kubectl, the harness);
//! - `world`: what the API holds, and what follows for the node;
//! - `checks`: convergence against `/status`, ports and flows;
//! - `sampling`: RSS and fds per minute, and the flatness verdict.
//!
//! `cargo run --release -p tests --bin soak-bench -- [--minutes N] [--seed S]`
//! (needs `tc-agent` and `tc-devcluster` built in the same profile:
//! `cargo build --release --bin tc-agent --bin tc-devcluster`). The churn
//! is the seed's: a failure ends with the command that replays it (the
//! switch restarts follow the clock, so they land between other steps).
//! The last line sums the run up: `soak: PASS ...` or `soak: FAIL ...`.

mod checks;
mod churn;
mod sampling;
mod world;

use std::time::{Duration, Instant};

use tests::agent::AgentProcess;
use tests::collector::Collector;
use tests::devcluster::DevCluster;
use tests::ovs::Ovs;

use crate::checks::Node;
use crate::churn::{Cluster, Rng};
use crate::sampling::Sampler;
use crate::world::World;

const NODE: &str = "node-1";
/// The default seed, printed either way.
const SEED: u64 = 0x50a6_2026;
/// How long a step may take to converge. The e2e tests wait 20 s for a
/// single change; a restart of ovs-vswitchd under churn gets a little more.
const DEADLINE: Duration = Duration::from_secs(30);

/// The command line.
struct Args {
    minutes: u64,
    seed: u64,
}

impl Args {
    fn parse() -> Args {
        let value = |flag: &str| std::env::args().skip_while(|a| a != flag).nth(1);
        let number = |flag: &str, default: u64| match value(flag) {
            None => default,
            Some(text) => parse_number(&text).unwrap_or_else(|| {
                eprintln!("soak-bench: {flag} takes a number, not {text:?}");
                std::process::exit(2)
            }),
        };
        Args { minutes: number("--minutes", 30).max(1), seed: number("--seed", SEED) }
    }

    /// ovs-vswitchd restarts every 3 minutes; a run of 4 minutes or less
    /// restarts it at half time (at least once).
    fn restart_every(&self) -> Duration {
        Duration::from_secs(if self.minutes <= 4 { self.minutes * 30 } else { 180 })
    }
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => text.parse().ok(),
    }
}

/// What the run saw.
#[derive(Default)]
struct Report {
    steps: usize,
    restarts: usize,
    checks: usize,
    /// Convergence times of the checks that converged.
    latencies: Vec<Duration>,
    series: String,
    rss: (f64, f64),
    fds: (usize, usize),
    leftovers: Vec<String>,
    pipeline_flows: usize,
    /// The first thing that went wrong.
    failure: Option<String>,
}

impl Report {
    fn fail(&mut self, why: String) {
        println!("FAILED: {why}");
        self.failure.get_or_insert(why);
    }
}

fn main() {
    require();
    let args = Args::parse();
    println!(
        "SEED={:#x} minutes={} restart_every={}s deadline={}s",
        args.seed,
        args.minutes,
        args.restart_every().as_secs(),
        DEADLINE.as_secs()
    );
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| soak(&args)));
    // Everything the harness made has been dropped by now, also after a
    // panic: whatever this process still owns is a leftover.
    let mut report = outcome.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        Report {
            failure: Some(format!("panicked: {}", why.lines().next().unwrap_or_default())),
            ..Report::default()
        }
    });
    let owned = tests::leftovers::owned_by_this_process();
    if !owned.is_empty() {
        report.fail(format!("the harness left {owned:?}"));
    }
    report.leftovers.extend(owned);
    summarize(&args, &report, started.elapsed());
}

/// Exits with code 2 and what to install or build, when something the
/// soak needs is missing.
fn require() {
    tests::require_tools("soak-bench", &[&tests::SWITCH_TOOLS[..], &[tests::KUBECTL]].concat());
    let agent_given = std::env::var_os("TC_AGENT").is_some();
    let missing: Vec<&str> = ["tc-agent", "tc-devcluster"]
        .into_iter()
        .filter(|name| !(agent_given && *name == "tc-agent"))
        .filter(|name| tests::agent::built_binary(name).is_none())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "soak-bench: {} not built next to soak-bench: run `cargo build --release --bin tc-agent --bin tc-devcluster` (the same profile as soak-bench)",
            missing.join(" and ")
        );
        std::process::exit(2);
    }
}

/// The soak itself; the harness values live in here, so they are dropped
/// (daemons killed, namespaces deleted) before `main` checks leftovers.
fn soak(args: &Args) -> Report {
    let mut ovs = Ovs::start();
    let bridge = ovs.add_bridge("br");
    let _collector = Collector::attach(&ovs);
    let api = DevCluster::start();
    let mut agent = AgentProcess::start(&ovs, &bridge, &api.kubeconfig, NODE);
    agent.wait_ready(DEADLINE);
    let mut world = World::default();
    let mut report = run(args, &mut ovs, &bridge, &api, &agent, &mut world);
    let log = agent.log();
    if let Some(line) = log.lines().find(|l| l.contains("panicked")) {
        report.fail(format!("the agent panicked: {line}"));
    }
    report
}

fn run(
    args: &Args,
    ovs: &mut Ovs,
    bridge: &tests::ovs::Bridge,
    api: &DevCluster,
    agent: &AgentProcess,
    world: &mut World,
) -> Report {
    let mut report = Report::default();
    if let Err(why) = checks::self_test(&Node { ovs, bridge, agent }) {
        report.fail(why);
        return report;
    }
    let mut rng = Rng::new(args.seed);
    let end = Instant::now() + Duration::from_secs(args.minutes * 60);
    let mut next_restart = Instant::now() + args.restart_every();
    let mut sampler = Sampler::start(agent.pid());
    let churn_started = Instant::now();
    while Instant::now() < end && report.failure.is_none() {
        let acted = Instant::now();
        let what = if Instant::now() >= next_restart {
            next_restart += args.restart_every();
            report.restarts += 1;
            // Alternately a clean restart and a crash (kill -9), each
            // followed by the supervisor's start on the same database.
            if report.restarts % 2 == 1 {
                ovs.restart_vswitchd();
                format!("restart #{} of ovs-vswitchd (SIGTERM)", report.restarts)
            } else {
                ovs.crash_vswitchd();
                format!("restart #{} of ovs-vswitchd (kill -9)", report.restarts)
            }
        } else {
            let steps: Vec<String> = (0..churn::batch(&mut rng))
                .map(|_| {
                    let step = churn::choose(world, &mut rng);
                    Cluster { ovs, bridge, api, node: NODE }.apply(&step, world);
                    report.steps += 1;
                    format!("step {} {step}", report.steps)
                })
                .collect();
            steps.join("; ")
        };
        let acted = acted.elapsed();
        let node = Node { ovs, bridge, agent };
        report.checks += 1;
        let at = churn_started.elapsed().as_secs_f64();
        match node.converge(world, DEADLINE) {
            Ok(took) => {
                println!(
                    "+{at:6.1}s {what} ({} ms): converged in {} ms",
                    acted.as_millis(),
                    took.as_millis()
                );
                report.latencies.push(took);
            }
            Err(why) => {
                println!("+{at:6.1}s {what} ({} ms): {why}", acted.as_millis());
                report.fail(format!("{what}: {why}"));
            }
        }
        sampler.tick();
    }
    sampler.finish();
    report.series = sampler.series();
    if let Some(verdict) = sampler.verdict(args.minutes) {
        report.rss = (verdict.baseline.rss_mib(), verdict.last.rss_mib());
        report.fds = (verdict.baseline.fds, verdict.last.fds);
        if let Some(why) = verdict.failure {
            report.fail(why);
        }
    }
    clean_up(ovs, bridge, api, agent, world, &mut report);
    report
}

/// Deletes everything the soak made and checks the switch holds nothing of
/// the agent's but its pipeline.
fn clean_up(
    ovs: &Ovs,
    bridge: &tests::ovs::Bridge,
    api: &DevCluster,
    agent: &AgentProcess,
    world: &mut World,
    report: &mut Report,
) {
    Cluster { ovs, bridge, api, node: NODE }.delete_everything(world);
    let node = Node { ovs, bridge, agent };
    report.checks += 1;
    match node.converge(world, DEADLINE) {
        Ok(took) => {
            println!("cleanup: everything deleted, converged in {} ms", took.as_millis());
            report.latencies.push(took);
        }
        Err(why) => report.fail(format!("cleanup: {why}")),
    }
    report.leftovers = node.leftovers();
    report.pipeline_flows = node.pipeline_flows();
    if !report.leftovers.is_empty() {
        report.fail(format!("left on the switch: {:?}", report.leftovers));
    }
}

fn summarize(args: &Args, report: &Report, took: Duration) {
    let mut latencies = report.latencies.clone();
    latencies.sort();
    let at = |q: f64| {
        latencies.get(((latencies.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or_default()
    };
    println!("series: {}", report.series);
    println!(
        "convergence over {} checks: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms; {} agent pipeline flows stay",
        latencies.len(),
        at(0.5).as_millis(),
        at(0.9).as_millis(),
        at(0.99).as_millis(),
        at(1.0).as_millis(),
        report.pipeline_flows
    );
    if report.failure.is_some() {
        println!(
            "replay: cargo run --release -p tests --bin soak-bench -- --minutes {} --seed {:#x}",
            args.minutes, args.seed
        );
    }
    let verdict = match &report.failure {
        None => "PASS".to_owned(),
        // The whole reason is printed above; the last line keeps it short.
        Some(why) => format!("FAIL ({})", why.chars().take(160).collect::<String>()),
    };
    println!(
        "soak: {verdict} {} min ({:.1} min wall), {} churn steps, {} switch restarts, {}/{} checks converged (p50 {} ms, max {:.1} s), RSS {:.1}→{:.1} MiB, fds {}→{}, {} leftovers",
        args.minutes,
        took.as_secs_f64() / 60.0,
        report.steps,
        report.restarts,
        report.latencies.len(),
        report.checks,
        at(0.5).as_millis(),
        at(1.0).as_secs_f64(),
        report.rss.0,
        report.rss.1,
        report.fds.0,
        report.fds.1,
        report.leftovers.len()
    );
    if report.failure.is_some() {
        std::process::exit(1);
    }
}
