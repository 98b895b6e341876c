//! The planner's flow text is what real OVS reads and prints: every flow of
//! every reviewed plan snapshot, and of hundreds of plans of random inputs,
//! parses with `ovs-ofctl -O OpenFlow15 parse-flows`, and OVS prints its
//! matches and actions back unchanged. The generated flows' OpenFlow
//! encoding decodes (`ovs-ofctl ofp-parse`) to the same flow_mod.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use datapath::flows::Flow;
use datapath::openflow::flow_mod::FlowMod;
use datapath::openflow::message::{self, Message, VERSION_1_5};
use datapath::validate::Validator;
use tests::ovs_text::{as_flow_mod_add, misread_flows, ofp_parse, parse_flows};
use tests::random_inputs::PlannerInput;

/// Every flow line of every plan snapshot.
fn snapshot_flows() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots/plan");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("snapshots/plan").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut flows: Vec<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f).expect("snapshot").lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .filter(|line| line.starts_with("cookie="))
        .collect();
    flows.sort();
    flows.dedup();
    flows
}

#[test]
fn every_planned_flow_parses_and_prints_back_unchanged() {
    let flows = snapshot_flows();
    assert!(flows.len() > 50, "the snapshots hold the plans");
    let misread = misread_flows(&flows).unwrap_or_else(|refused| panic!("{refused}"));
    assert!(misread.is_empty(), "OVS reads these flows (ours, OVS's) differently: {misread:#?}");
}

/// The first seed of the generated plans, unless `TC_FLOW_TEXT_SEED` says.
const SEED: u64 = 0x7463_f10e;
/// How many plans, unless `TC_FLOW_TEXT_PLANS` says.
const PLANS: u64 = 1000;

fn from_env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The command that makes the same plans again.
fn replay(seed: u64, plans: u64) -> String {
    format!(
        "TC_FLOW_TEXT_SEED={seed} TC_FLOW_TEXT_PLANS={plans} cargo test -p tests --test flow_text generated"
    )
}

/// The distinct flows of the plans of seeds `seed..seed + plans`, each
/// with the first seed that planned it.
#[derive(Default)]
struct GeneratedFlows {
    /// By text: the flow and the first seed that planned it.
    flows: BTreeMap<String, (Flow, u64)>,
    /// Flows of all plans, repeats included.
    planned_flows: usize,
    /// TrafficControl manifests generated.
    traffic_controls: usize,
    /// Of those, refused by the validator.
    refused: usize,
    /// Of those, spoiled on purpose (all refused).
    spoiled: usize,
}

fn generate(seed: u64, plans: u64) -> GeneratedFlows {
    let validator = Validator::new();
    let mut generated = GeneratedFlows::default();
    for plan_seed in seed..seed + plans {
        let input = PlannerInput::random(plan_seed);
        let planned = input.plan(&validator);
        let texts: Vec<String> = planned.plan.flows.iter().map(Flow::to_string).collect();
        assert_eq!(planned.flow_lines(), texts, "seed {plan_seed}: the plan's text holds its flows");
        generated.traffic_controls += input.manifests.len();
        generated.refused += planned.refused.len();
        generated.spoiled += input.manifests.iter().filter(|m| m.spoiled).count();
        generated.planned_flows += texts.len();
        for (text, flow) in texts.into_iter().zip(&planned.plan.flows) {
            generated.flows.entry(text).or_insert_with(|| (flow.clone(), plan_seed));
        }
    }
    generated
}

/// Our OFPT_FLOW_MOD (add) of each flow, with xids 1, 2, ...
fn flow_mods<'a>(flows: impl Iterator<Item = &'a Flow>) -> Vec<Vec<u8>> {
    flows
        .zip(1u32..)
        .map(|(flow, xid)| message::encode(VERSION_1_5, xid, &Message::FlowMod(FlowMod::add(flow))))
        .collect()
}

/// How OVS misread a flow (our `text`): what parse-flows `printed` for
/// the text, and what ofp-parse `decoded` from our flow_mod of xid `xid`,
/// each against the flow_mod we meant.
fn misreadings(text: &str, printed: &str, decoded: &str, xid: u32) -> Vec<String> {
    let meant = as_flow_mod_add(text);
    let mut misread = Vec::new();
    if printed != meant {
        misread.push(format!("parse-flows reads {text:?}\n  as {printed:?}"));
    }
    if decoded != format!("OFPT_FLOW_MOD (OF1.5) (xid={xid:#x}): {meant}") {
        misread.push(format!("our encoding of {text:?}\n  decodes as {decoded:?}"));
    }
    misread
}

#[test]
fn every_flow_of_generated_plans_parses_and_prints_back_unchanged() {
    let started = Instant::now();
    let (seed, plans) = (from_env("TC_FLOW_TEXT_SEED", SEED), from_env("TC_FLOW_TEXT_PLANS", PLANS));
    eprintln!("SEED={seed} plans={plans}");
    let generated = generate(seed, plans);
    let texts: Vec<String> = generated.flows.keys().cloned().collect();
    let seed_of = |text: &str| generated.flows.get(text).map_or(seed, |(_, s)| *s);
    let from_text = parse_flows(&texts).unwrap_or_else(|refused| {
        let seed = seed_of(&refused.flow);
        panic!("{refused}\nplanned by seed {seed}; replay: {}", replay(seed, 1))
    });
    // The binary side: our flow_mods, decoded by OVS.
    let from_bytes = ofp_parse(&flow_mods(generated.flows.values().map(|(flow, _)| flow)));
    assert_eq!(from_bytes.len(), texts.len(), "ofp-parse printed one message per flow_mod");
    let misread: Vec<String> = texts
        .iter()
        .zip(&from_text)
        .zip(&from_bytes)
        .zip(1u32..)
        .flat_map(|(((text, printed), decoded), xid)| {
            misreadings(text, printed, decoded, xid)
                .into_iter()
                .map(|m| format!("seed {}: {m}", seed_of(text)))
        })
        .collect();
    assert!(misread.is_empty(), "{}\nreplay: {}", misread.join("\n"), replay(seed, plans));
    eprintln!(
        "{plans} plans of {} TrafficControls ({} refused by the validator, {} of them spoiled on purpose): {} flows, {} distinct, all read back by parse-flows and ofp-parse as planned, in {:.1?}",
        generated.traffic_controls,
        generated.refused,
        generated.spoiled,
        generated.planned_flows,
        texts.len(),
        started.elapsed()
    );
    if plans >= PLANS {
        assert_every_shape_reached(&texts);
    }
}

/// The generated flows are many, and have every piece of [`SHAPES`].
fn assert_every_shape_reached(texts: &[String]) {
    assert!(texts.len() > 1000, "the generator reaches many flows: {}", texts.len());
    let unreached: Vec<&str> =
        SHAPES.iter().copied().filter(|shape| !texts.iter().any(|t| t.contains(shape))).collect();
    assert!(unreached.is_empty(), "no generated flow has {unreached:?}");
}

/// Pieces of every kind of flow the planner makes, which the generated
/// plans must all reach.
const SHAPES: [&str; 12] = [
    "set_field:0x400000/0xc00000->reg4", // a Mirror
    "set_field:0x800000/0xc00000->reg4", // a Redirect
    "priority=100,reg1=",                // Ingress
    "priority=210,in_port=",             // Egress
    "set_field:0x6/0xf->reg0",           // a return port
    "actions=drop",                      // a target port
    "in_port=65279 ",                    // the highest ofport
    "dl_dst=",                           // a Pod's MAC
    "dl_vlan=",                          // a trunk's VLAN
    "vlan_tci=0x1000/0x1000",            // tagged
    "push_vlan:0x8100,set_field:",       // a copy tagged
    "pop_vlan",                          // a copy untagged
];
