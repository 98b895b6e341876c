//! The flow manager's decision: the planned flows against a dump of the
//! switch, as the flow_mods of one bundle.
//!
//! A flow is identified as OpenFlow identifies it: table, priority and
//! match. Same identity with other actions is a strict modify; with
//! another cookie, an add that replaces it (a modify cannot change a
//! cookie); a planned flow the switch lacks is an add (after ovs-vswitchd
//! restarts, all of them are); a switch flow not planned is a strict
//! delete. Flows whose cookie is not the agent's are never touched, even if
//! a dump returns them. An unchanged plan gives no flow_mod at all.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::flows::{Cookie, Flow, Match, Table};
use crate::openflow::actions::table_from_id;
use crate::openflow::flow_mod::{FlowDesc, FlowMod, MatchSpec, known_fields};

/// What to send, and how much of each kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowChanges {
    /// Deletes, then modifies, then adds, each in dump order.
    pub flow_mods: Vec<FlowMod>,
    /// Planned flows the switch lacks.
    pub added: usize,
    /// Flows whose actions or cookie differ.
    pub modified: usize,
    /// Switch flows of the agent that are not planned.
    pub deleted: usize,
}

impl FlowChanges {
    /// Whether the switch already holds exactly the plan.
    pub fn is_empty(&self) -> bool {
        self.flow_mods.is_empty()
    }
}

/// A flow's identity; borrowed from the flows being compared where it can
/// be (a dump's matches are parsed, so owned), so that diffing a thousand
/// flows does not copy a thousand match lists.
type Key<'a> = (Table, u16, Cow<'a, [Match]>);

fn key_of(desc: &FlowDesc) -> Option<Key<'static>> {
    let table = table_from_id(desc.table_id)?;
    let mut matches = known_fields(desc.fields.clone())?;
    matches.sort();
    Some((table, desc.priority, Cow::Owned(matches)))
}

/// A flow the switch holds: as a dump showed it, or as the agent's last
/// bundle installed it.
#[derive(Clone, Copy)]
enum Held<'a> {
    Dumped(&'a FlowDesc),
    Installed(&'a Flow),
}

impl Held<'_> {
    /// Whether it is `flow` exactly (same cookie and actions; the key is
    /// already equal).
    fn is(&self, flow: &Flow) -> bool {
        match self {
            Held::Dumped(desc) => desc.cookie == flow.cookie.0 && desc.actions.as_ref() == Ok(&flow.actions),
            Held::Installed(held) => held.cookie == flow.cookie && held.actions == flow.actions,
        }
    }

    fn cookie(&self) -> u64 {
        match self {
            Held::Dumped(desc) => desc.cookie,
            Held::Installed(flow) => flow.cookie.0,
        }
    }

    fn delete(&self) -> FlowMod {
        match self {
            Held::Dumped(desc) => delete_of(desc),
            Held::Installed(flow) => FlowMod::delete_strict(
                flow.table.id(),
                flow.priority,
                MatchSpec::Fields(flow.matches.clone()),
            ),
        }
    }
}

/// The flow_mods that turn the switch's flows (`observed`, a dump) into
/// `desired`.
pub fn diff(desired: &[Flow], observed: &[FlowDesc]) -> FlowChanges {
    let mut on_switch: BTreeMap<Key<'_>, Held<'_>> = BTreeMap::new();
    let mut deletes = Vec::new();
    for desc in observed.iter().filter(|d| Cookie(d.cookie).is_agents()) {
        match key_of(desc) {
            Some(key) => {
                // Two switch flows cannot share a key; if a dump says so,
                // keep one and delete the other.
                if let Some(previous) = on_switch.insert(key, Held::Dumped(desc)) {
                    deletes.push(previous.delete());
                }
            }
            None => deletes.push(FlowMod::delete_strict(
                desc.table_id,
                desc.priority,
                MatchSpec::Raw(desc.raw_match.clone()),
            )),
        }
    }
    changes(desired, on_switch, deletes)
}

/// The flow_mods that turn `installed` (what the agent's last bundle left
/// on the switch, when nothing else has changed it since) into `desired`:
/// the same answer as [`diff`] against a dump of that switch, without the
/// dump.
pub fn diff_installed(desired: &[Flow], installed: &[Flow]) -> FlowChanges {
    let on_switch = installed
        .iter()
        .map(|flow| {
            ((flow.table, flow.priority, Cow::Borrowed(flow.matches.as_slice())), Held::Installed(flow))
        })
        .collect();
    changes(desired, on_switch, Vec::new())
}

/// Deletes (those already decided, then the held flows not desired),
/// modifies and adds.
fn changes<'a>(
    desired: &'a [Flow],
    mut on_switch: BTreeMap<Key<'a>, Held<'a>>,
    mut deletes: Vec<FlowMod>,
) -> FlowChanges {
    let mut modifies = Vec::new();
    let mut adds = Vec::new();
    for flow in desired {
        let key: Key<'_> = (flow.table, flow.priority, Cow::Borrowed(&flow.matches));
        match on_switch.remove(&key) {
            Some(held) if held.is(flow) => {}
            // A modify never changes a flow's cookie (OpenFlow 1.2+ uses
            // the cookie of a modify only to select flows), so a flow that
            // moves to another TrafficControl is replaced by an add of the
            // same identity, which OVS applies in place.
            Some(held) if held.cookie() != flow.cookie.0 => modifies.push(FlowMod::add(flow)),
            Some(_) => modifies.push(FlowMod::modify_strict(flow)),
            None => adds.push(FlowMod::add(flow)),
        }
    }
    deletes.extend(on_switch.into_values().map(|held| held.delete()));
    let (added, modified, deleted) = (adds.len(), modifies.len(), deletes.len());
    let mut flow_mods = deletes;
    flow_mods.extend(modifies);
    flow_mods.extend(adds);
    FlowChanges { flow_mods, added, modified, deleted }
}

/// How the switch's agent flows differ from the plan, for a person: flows
/// the plan has and the switch lacks (or holds otherwise), and switch flows
/// the plan does not have, both in `dump-flows` text. A flow that differs
/// only in its actions is in both lists, like a `-`/`+` line pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowDrift {
    /// Planned, not on the switch as planned.
    pub missing: Vec<String>,
    /// On the switch, not planned as is.
    pub unexpected: Vec<String>,
}

impl FlowDrift {
    /// Whether the switch holds exactly the plan.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// The drift between `desired` and a dump.
pub fn drift(desired: &[Flow], observed: &[FlowDesc]) -> FlowDrift {
    let mut on_switch: BTreeMap<String, &FlowDesc> = BTreeMap::new();
    let mut unexpected = Vec::new();
    for desc in observed.iter().filter(|d| Cookie(d.cookie).is_agents()) {
        match desc.to_flow() {
            Some(flow) => {
                on_switch.insert(flow.to_string(), desc);
            }
            None => unexpected.push(format!(
                "cookie={:#x}, table={}, priority={} (a match or actions this agent never writes)",
                desc.cookie, desc.table_id, desc.priority
            )),
        }
    }
    let mut missing = Vec::new();
    for flow in desired {
        if on_switch.remove(&flow.to_string()).is_none() {
            missing.push(flow.to_string());
        }
    }
    unexpected.extend(on_switch.into_keys());
    FlowDrift { missing, unexpected }
}

fn delete_of(desc: &FlowDesc) -> FlowMod {
    let matches = match known_fields(desc.fields.clone()) {
        Some(fields) => MatchSpec::Fields(fields),
        None => MatchSpec::Raw(desc.raw_match.clone()),
    };
    FlowMod::delete_strict(desc.table_id, desc.priority, matches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{Action, OUTPUT_PORT};
    use crate::openflow::flow_mod::Command;
    use crate::openflow::oxm::{Field, OxmHeader};

    fn flow(port: u32, target: u32) -> Flow {
        Flow::new(
            Cookie::traffic_control("t"),
            Table::TrafficControl,
            110,
            vec![Match::InPort(port)],
            vec![Action::SetField(crate::flows::TC_TARGET, target), Action::GotoTable(Table::Output)],
        )
    }

    fn dumped(flow: &Flow) -> FlowDesc {
        FlowDesc::of(flow)
    }

    fn commands(changes: &FlowChanges) -> Vec<Command> {
        changes.flow_mods.iter().map(|m| m.command).collect()
    }

    #[test]
    fn drift_names_missing_and_unexpected_flows_in_dump_text() {
        let planned = vec![flow(1, 9), flow(2, 9)];
        assert!(drift(&planned, &planned.iter().map(dumped).collect::<Vec<_>>()).is_empty());
        // The switch lost flow 2 and holds flow 1 with another target.
        let observed = vec![dumped(&flow(1, 8))];
        let found = drift(&planned, &observed);
        assert_eq!(found.missing, [flow(1, 9).to_string(), flow(2, 9).to_string()]);
        assert_eq!(found.unexpected, [flow(1, 8).to_string()]);
        // Other owners' flows are not drift.
        let mut foreign = dumped(&flow(3, 9));
        foreign.cookie = 0;
        assert!(drift(&planned, &[dumped(&flow(1, 9)), dumped(&flow(2, 9)), foreign]).is_empty());
    }

    #[test]
    fn an_unchanged_plan_sends_nothing() {
        let flows = vec![flow(1, 9), flow(2, 9)];
        let observed: Vec<FlowDesc> = flows.iter().map(dumped).collect();
        assert!(diff(&flows, &observed).is_empty());
    }

    #[test]
    fn after_a_switch_restart_everything_is_added() {
        let flows = vec![flow(1, 9), flow(2, 9)];
        let changes = diff(&flows, &[]);
        assert_eq!((changes.added, commands(&changes)), (2, vec![Command::Add, Command::Add]));
    }

    #[test]
    fn changed_actions_are_modified_and_a_changed_cookie_replaced_in_place() {
        let observed = [dumped(&flow(1, 9)), dumped(&Flow { cookie: Cookie::port(), ..flow(2, 9) })];
        let changes = diff(&[flow(1, 8), flow(2, 9)], &observed);
        // An OpenFlow 1.5 modify keeps the cookie; only an add replaces it.
        assert_eq!((changes.modified, commands(&changes)), (2, vec![Command::ModifyStrict, Command::Add]));
    }

    #[test]
    fn flows_no_longer_planned_are_deleted_first() {
        let observed = [dumped(&flow(1, 9)), dumped(&flow(2, 9))];
        let changes = diff(&[flow(2, 9), flow(3, 9)], &observed);
        assert_eq!(commands(&changes), vec![Command::DeleteStrict, Command::Add]);
        assert_eq!(changes.flow_mods[0].matches, MatchSpec::Fields(vec![Match::InPort(1)]));
    }

    #[test]
    fn flows_of_others_are_never_touched() {
        let theirs = FlowDesc { cookie: 0x1234, ..dumped(&flow(7, 9)) };
        assert!(diff(&[], &[theirs]).is_empty());
    }

    #[test]
    fn an_agent_flow_we_cannot_read_is_deleted_by_its_raw_match() {
        let mut odd = dumped(&flow(1, 9));
        odd.fields = vec![Field::Other(OxmHeader { class: 0x8000, field: 5, has_mask: false, len: 2 })];
        odd.raw_match = vec![0x80, 0x00, 0x0a, 0x02, 0x08, 0x00];
        let changes = diff(&[], &[odd.clone()]);
        assert_eq!(changes.flow_mods[0].matches, MatchSpec::Raw(odd.raw_match));
    }

    #[test]
    fn a_flow_with_foreign_actions_but_our_match_is_modified_not_duplicated() {
        let mut tampered = dumped(&flow(1, 9));
        tampered.actions = Err("output to port 3".into());
        let changes = diff(&[flow(1, 9)], &[tampered]);
        assert_eq!(commands(&changes), vec![Command::ModifyStrict]);
    }

    #[test]
    fn register_matches_compare_regardless_of_order() {
        let desired = Flow::new(
            Cookie::pipeline(),
            Table::Output,
            200,
            vec![Match::Reg(OUTPUT_PORT, 5), Match::InPort(3)],
            vec![Action::Normal],
        );
        let mut observed = dumped(&desired);
        observed.fields.reverse();
        assert!(diff(&[desired], &[observed]).is_empty());
    }

    #[test]
    fn diffing_against_what_was_installed_equals_diffing_against_its_dump() {
        let port_cookie = |f: Flow| Flow { cookie: Cookie::port(), ..f };
        let cases: Vec<(Vec<Flow>, Vec<Flow>)> = vec![
            (vec![], vec![]),
            (vec![flow(1, 9), flow(2, 9)], vec![]),
            (vec![], vec![flow(1, 9), flow(2, 9)]),
            (vec![flow(1, 9), flow(2, 9)], vec![flow(1, 9), flow(2, 9)]),
            (vec![flow(1, 8), flow(2, 9), flow(4, 9)], vec![flow(1, 9), flow(2, 9), flow(3, 9)]),
            (vec![port_cookie(flow(1, 9))], vec![flow(1, 9)]),
        ];
        for (desired, installed) in cases {
            let dump: Vec<FlowDesc> = installed.iter().map(dumped).collect();
            assert_eq!(
                diff_installed(&desired, &installed),
                diff(&desired, &dump),
                "desired {desired:?}, installed {installed:?}"
            );
        }
    }
}
