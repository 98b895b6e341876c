//! The safety rules the simulation checks while it runs (convergence is
//! checked at the end, in [`super::expected`]):
//!
//! - a port is deleted only once no flow uses its ofport (DESIGN §2);
//! - no flow names an ofport the bridge does not have;
//! - the agent never deletes a port it does not own (a Pod's port goes
//!   only when the CNI removes it).

use std::collections::BTreeSet;

use datapath::flows::Flow;

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
