//! Whether a bridge's pipeline tables are free for an owned bridge. In
//! owned mode the agent programs tables 0-3 whole, their default flows
//! included: anyone else's flows there would be overwritten (same match
//! and priority) or bypassed. So the agent looks before it writes, and
//! refuses a bridge where someone else has written, naming what it found.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::flows::{Action, Cookie, Table};
use crate::openflow::flow_mod::FlowDesc;

/// Cookies listed per table before "and N more".
const COOKIES_SHOWN: usize = 4;

/// Flows in the pipeline's tables that the agent did not write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignFlows {
    /// How many.
    pub count: usize,
    /// Their cookies, by table.
    pub cookies: BTreeMap<u8, BTreeSet<u64>>,
}

/// The flows of `dump` (every flow of the bridge) in the pipeline's
/// tables whose cookie is not the agent's; none when the tables are free.
/// The flow OVS puts in a new bridge without a controller (table 0,
/// priority 0, no match, cookie 0, NORMAL) is nobody's: it is what the
/// agent's own table-0 default replaces.
pub fn foreign_flows(dump: &[FlowDesc]) -> Option<ForeignFlows> {
    let mut found = ForeignFlows { count: 0, cookies: BTreeMap::new() };
    for flow in dump {
        let in_pipeline = Table::ALL.iter().any(|t| t.id() == flow.table_id);
        if !in_pipeline || Cookie(flow.cookie).is_agents() || is_ovs_default(flow) {
            continue;
        }
        found.count += 1;
        found.cookies.entry(flow.table_id).or_default().insert(flow.cookie);
    }
    (found.count > 0).then_some(found)
}

fn is_ovs_default(flow: &FlowDesc) -> bool {
    flow.table_id == 0
        && flow.priority == 0
        && flow.cookie == 0
        && flow.raw_match.is_empty()
        && flow.actions.as_deref() == Ok(&[Action::Normal][..])
}

impl fmt::Display for ForeignFlows {
    /// `3 flows the agent did not write, in table 0 (cookies 0x0, 0x1f) and
    /// table 2 (cookie 0xa)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        write!(f, "{} {} the agent did not write, in ", self.count, plural(self.count, "flow", "flows"))?;
        for (i, (table, cookies)) in self.cookies.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == self.cookies.len() { " and " } else { ", " })?;
            }
            let shown: Vec<String> = cookies.iter().take(COOKIES_SHOWN).map(|c| format!("{c:#x}")).collect();
            write!(f, "table {table} ({} {}", plural(cookies.len(), "cookie", "cookies"), shown.join(", "))?;
            if cookies.len() > COOKIES_SHOWN {
                write!(f, " and {} more", cookies.len() - COOKIES_SHOWN)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{Flow, Match};

    fn flow(table: Table, priority: u16, cookie: u64, matches: Vec<Match>, actions: Vec<Action>) -> FlowDesc {
        FlowDesc::of(&Flow::new(Cookie(cookie), table, priority, matches, actions))
    }

    #[test]
    fn the_agents_flows_and_ovs_default_flow_leave_the_tables_free() {
        let dump = [
            flow(Table::Classifier, 0, 0, vec![], vec![Action::Normal]),
            flow(
                Table::Classifier,
                0,
                Cookie::pipeline().0,
                vec![],
                vec![Action::GotoTable(Table::L2ForwardingCalc)],
            ),
            flow(
                Table::Output,
                0,
                Cookie::traffic_control("t").0,
                vec![Match::InPort(1)],
                vec![Action::Drop],
            ),
        ];
        assert_eq!(foreign_flows(&dump), None);
    }

    #[test]
    fn anyone_elses_flows_are_named_by_table_and_cookie() {
        let mut dump = vec![
            // ovn-controller's table-0 miss: not OVS's default (drop).
            flow(Table::Classifier, 0, 0, vec![], vec![Action::Drop]),
            flow(Table::Classifier, 100, 0x1f, vec![Match::InPort(3)], vec![Action::Normal]),
            flow(Table::TrafficControl, 0, 0xa, vec![], vec![Action::Normal]),
        ];
        let found = foreign_flows(&dump).expect("foreign flows");
        assert_eq!(found.count, 3);
        assert_eq!(
            found.to_string(),
            "3 flows the agent did not write, in table 0 (cookies 0x0, 0x1f) and table 2 (cookie 0xa)"
        );
        dump.extend(
            (1..=6).map(|c| flow(Table::Output, 5, c, vec![Match::InPort(c as u32)], vec![Action::Drop])),
        );
        assert!(
            foreign_flows(&dump)
                .unwrap()
                .to_string()
                .ends_with("table 2 (cookie 0xa) and table 3 (cookies 0x1, 0x2, 0x3, 0x4 and 2 more)")
        );
    }

    #[test]
    fn flows_beyond_the_pipelines_tables_are_not_its_concern() {
        let mut beyond = flow(Table::Classifier, 10, 0x1f, vec![], vec![Action::Drop]);
        beyond.table_id = 40;
        assert_eq!(foreign_flows(&[beyond]), None);
    }
}
