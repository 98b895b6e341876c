//! The safety rules the simulation checks while it runs (convergence is
//! checked at the end, in [`super::expected`]):
//!
//! - a port is deleted only once no flow uses its ofport (DESIGN §2);
//! - no flow names an ofport the bridge does not have;
//! - the agent never deletes a port it does not own (a Pod's port goes
//!   only when the CNI removes it);
//! - no TrafficControl port floods while a flow sends to it (checked after
//!   every message the switch handles: [`flooding_targets`]).

use std::collections::{BTreeMap, BTreeSet};

use datapath::flows::{Action, Cookie, Flow, Match, TC_TARGET};

use crate::ovs::openflow_switch::OpenFlowSwitch;

/// Flows that name `ofport`, in dump text.
pub fn flows_using(flows: &[Flow], ofport: u32) -> Vec<String> {
    flows.iter().filter(|f| f.ofports().contains(&ofport)).map(ToString::to_string).collect()
}

/// Flows that name an ofport not in `ofports`, with the ofport.
pub fn dangling(flows: &[Flow], ofports: &BTreeSet<u32>) -> Vec<String> {
    flows
        .iter()
        .flat_map(|flow| {
            let mut named = flow.ofports();
            named.sort_unstable();
            named.dedup();
            named
                .into_iter()
                .filter(|p| !ofports.contains(p))
                .map(move |p| format!("ofport {p} is not on the bridge: {flow}"))
        })
        .collect()
}

/// The TrafficControl ports the switch's flows use (as a TrafficControl's
/// target, or classified by the port cookie) that are on the switch and
/// still flood: NORMAL would copy broadcasts of Pods nobody selected into
/// them. Each with its name and one flow that uses it.
pub fn flooding_targets(switch: &OpenFlowSwitch) -> BTreeMap<u32, (String, String)> {
    let flows = switch.flows();
    let mut used: BTreeMap<u32, &Flow> = BTreeMap::new();
    for flow in &flows {
        let classified = flow.matches.iter().filter_map(|m| match m {
            Match::InPort(port) if flow.cookie == Cookie::port() => Some(*port),
            _ => None,
        });
        let targeted = flow.actions.iter().filter_map(|a| match a {
            Action::SetField(field, port) if *field == TC_TARGET => Some(*port),
            _ => None,
        });
        for port in classified.chain(targeted) {
            used.entry(port).or_insert(flow);
        }
    }
    let names: BTreeMap<u32, String> = switch.ports().into_iter().map(|p| (p.port_no, p.name)).collect();
    used.into_iter()
        .filter(|(port, _)| switch.port_config(*port).is_some_and(|config| !config.no_flood))
        .filter_map(|(port, flow)| Some((port, (names.get(&port)?.clone(), flow.to_string()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use datapath::flows::{Action, Cookie, Match, OUTPUT_PORT, TC_ACTION, TC_TARGET, Table};

    use super::*;

    #[test]
    fn in_ports_output_ports_and_targets_are_references_other_registers_are_not() {
        let flow = Flow::new(
            Cookie::traffic_control("t"),
            Table::TrafficControl,
            100,
            vec![Match::Reg(OUTPUT_PORT, 4), Match::InPort(2)],
            vec![Action::SetField(TC_TARGET, 9), Action::SetField(TC_ACTION, 1)],
        );
        assert_eq!(flows_using(std::slice::from_ref(&flow), 9).len(), 1);
        assert_eq!(dangling(std::slice::from_ref(&flow), &BTreeSet::from([2, 4])).len(), 1);
    }
}
