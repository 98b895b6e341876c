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
use tests::ovs::{Bridge, Ovs};

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
    let mut agent = AgentProcess::start(&ovs, &bridge, &api.agent_kubeconfig, NODE);
    agent.wait_ready(DEADLINE);
    let mut soak = Soak {
        ovs: &mut ovs,
        bridge: &bridge,
        api: &api,
        agent: &agent,
        world: World::default(),
        rng: Rng::new(args.seed),
        report: Report::default(),
    };
    soak.run(args);
    let mut report = soak.report;
    if let Some(line) = agent.log().lines().find(|l| l.contains("panicked")) {
        report.fail(format!("the agent panicked: {line}"));
    }
    report
}

/// The node under soak and what the run has done to it so far.
struct Soak<'a> {
    ovs: &'a mut Ovs,
    bridge: &'a Bridge,
    api: &'a DevCluster,
    agent: &'a AgentProcess,
    world: World,
    rng: Rng,
    report: Report,
}

impl Soak<'_> {
    /// Churns until `args.minutes` are over or a check fails, restarting
    /// ovs-vswitchd on schedule and sampling the agent each minute; then
    /// judges the samples and cleans up.
    fn run(&mut self, args: &Args) {
        if let Err(why) = checks::self_test(&self.node()) {
            return self.report.fail(why);
        }
        let started = Instant::now();
        let end = started + Duration::from_secs(args.minutes * 60);
        let mut next_restart = started + args.restart_every();
        let mut sampler = Sampler::start(self.agent.pid());
        while Instant::now() < end && self.report.failure.is_none() {
            let acting = Instant::now();
            let what = if acting >= next_restart {
                next_restart += args.restart_every();
                self.restart_switch()
            } else {
                self.churn()
            };
            let acted = acting.elapsed();
            self.check(&format!(
                "+{:6.1}s {what} ({} ms)",
                started.elapsed().as_secs_f64(),
                acted.as_millis()
            ));
            sampler.tick();
        }
        sampler.finish();
        self.report.series = sampler.series();
        if let Some(verdict) = sampler.verdict(args.minutes) {
            self.report.rss = (verdict.baseline.rss_mib(), verdict.last.rss_mib());
            self.report.fds = (verdict.baseline.fds, verdict.last.fds);
            if let Some(why) = verdict.failure {
                self.report.fail(why);
            }
        }
        self.clean_up();
    }

    fn node(&self) -> Node<'_> {
        Node { ovs: self.ovs, bridge: self.bridge, agent: self.agent }
    }

    fn cluster(&self) -> Cluster<'_> {
        Cluster { ovs: self.ovs, bridge: self.bridge, api: self.api, node: NODE }
    }

    /// Alternately a clean restart of ovs-vswitchd and a crash (kill -9),
    /// each followed by the supervisor's start on the same database.
    fn restart_switch(&mut self) -> String {
        self.report.restarts += 1;
        let number = self.report.restarts;
        if number % 2 == 1 {
            self.ovs.restart_vswitchd();
            format!("restart #{number} of ovs-vswitchd (SIGTERM)")
        } else {
            self.ovs.crash_vswitchd();
            format!("restart #{number} of ovs-vswitchd (kill -9)")
        }
    }

    /// One batch of churn steps; what they were.
    fn churn(&mut self) -> String {
        let mut done = Vec::new();
        for _ in 0..churn::batch(&mut self.rng) {
            let step = churn::choose(&self.world, &mut self.rng);
            let mut world = std::mem::take(&mut self.world);
            self.cluster().apply(&step, &mut world);
            self.world = world;
            self.report.steps += 1;
            done.push(format!("step {} {step}", self.report.steps));
        }
        done.join("; ")
    }

    /// Waits for convergence after `what` and records the outcome.
    fn check(&mut self, what: &str) {
        self.report.checks += 1;
        match self.node().converge(&self.world, DEADLINE) {
            Ok(took) => {
                println!("{what}: converged in {} ms", took.as_millis());
                self.report.latencies.push(took);
            }
            Err(why) => {
                println!("{what}: {why}");
                self.report.fail(format!("{}: {why}", what.trim_start()));
            }
        }
    }

    /// Deletes everything the soak made and checks the switch holds
    /// nothing of the agent's but its pipeline.
    fn clean_up(&mut self) {
        let mut world = std::mem::take(&mut self.world);
        self.cluster().delete_everything(&mut world);
        self.world = world;
        self.check("cleanup: everything deleted");
        let node = self.node();
        let (leftovers, pipeline_flows) = (node.leftovers(), node.pipeline_flows());
        if !leftovers.is_empty() {
            self.report.fail(format!("left on the switch: {leftovers:?}"));
        }
        self.report.leftovers = leftovers;
        self.report.pipeline_flows = pipeline_flows;
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
