//! The switch's flow tables: flow_mods checked the way OVS checks them
//! when it decodes one, and applied the way OVS applies them (OpenFlow
//! 1.5 semantics), with a journal so a bundle that fails half-way is
//! undone; and the loose selection of a flow stats request.
//!
//! A flow's identity is (table, priority, match as a set of fields). Not
//! modelled: timeouts, flags, statistics, `out_port`/`out_group` filters,
//! loose modify, and any check of what an action refers to (OVS, too,
//! accepts output to a port that does not exist).

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Bound;

use datapath::flows::{Cookie, Flow};
use datapath::openflow::actions::{ReadActions, table_from_id};
use datapath::openflow::flow_mod::{Command, FlowStatsEntry, OFPTT_ALL, ReceivedFlowMod};
use datapath::openflow::wire::Reader;

use super::match_key::MatchKey;
use super::refusal::Refusal;

/// OVS's tables are 0..=253 (254 of them; 255 means "all").
pub const N_TABLES: u8 = 254;
const OFPIT_GOTO_TABLE: u16 = 1;

/// A flow_mod the switch has checked and can apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowChange {
    command: Command,
    cookie: u64,
    cookie_mask: u64,
    table_id: u8,
    priority: u16,
    matches: MatchKey,
    foreign_match: Vec<u8>,
    raw_instructions: Vec<u8>,
    actions: ReadActions,
}

impl FlowChange {
    /// Checks a flow_mod as OVS does when it decodes one.
    ///
    /// # Errors
    /// The [`Refusal`] OVS would answer: no such table, a goto_table that
    /// does not go forward, a match field cut short or set twice.
    pub fn check(received: ReceivedFlowMod) -> Result<Self, Refusal> {
        let ReceivedFlowMod { flow_mod, raw_match, raw_instructions, actions } = received;
        let writes = matches!(flow_mod.command, Command::Add | Command::ModifyStrict);
        if flow_mod.table_id >= N_TABLES && (writes || flow_mod.table_id != OFPTT_ALL) {
            return Err(Refusal::FlowModBadTable);
        }
        let parsed = MatchKey::parse(&raw_match)?;
        if writes
            && let Some(goto) = goto_table(&raw_instructions)?
            && (goto <= flow_mod.table_id || goto >= N_TABLES)
        {
            return Err(Refusal::GotoBadTable);
        }
        Ok(FlowChange {
            command: flow_mod.command,
            cookie: flow_mod.cookie,
            cookie_mask: flow_mod.cookie_mask,
            table_id: flow_mod.table_id,
            priority: flow_mod.priority,
            matches: parsed.key,
            foreign_match: parsed.foreign_as_sent,
            raw_instructions,
            actions,
        })
    }

    fn cookie_selects(&self, cookie: u64) -> bool {
        cookie & self.cookie_mask == self.cookie & self.cookie_mask
    }

    fn table_selects(&self, table_id: u8) -> bool {
        self.table_id == OFPTT_ALL || self.table_id == table_id
    }
}

/// The table a goto_table instruction names, if there is one.
fn goto_table(raw_instructions: &[u8]) -> Result<Option<u8>, Refusal> {
    let mut r = Reader::new(raw_instructions, "instructions");
    let mut goto = None;
    while r.remaining() > 0 {
        let kind = r.u16().map_err(|_| Refusal::BadLen)?;
        let len = usize::from(r.u16().map_err(|_| Refusal::BadLen)?);
        let mut body =
            r.sub(len.checked_sub(4).ok_or(Refusal::BadLen)?, "instruction").map_err(|_| Refusal::BadLen)?;
        if kind == OFPIT_GOTO_TABLE {
            goto = Some(body.u8().map_err(|_| Refusal::BadLen)?);
        }
    }
    Ok(goto)
}

/// Where a flow sits: table, then priority high to low, then match (the
/// order of a dump and of `Flow`'s `Ord`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    table_id: u8,
    priority: Reverse<u16>,
    matches: MatchKey,
}

/// What a flow holds besides its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowEntry {
    cookie: u64,
    foreign_match: Vec<u8>,
    raw_instructions: Vec<u8>,
    actions: ReadActions,
}

/// What a bundle changed, to undo it: each key with what it held before.
pub type Journal = Vec<(FlowKey, Option<FlowEntry>)>;

/// Every flow of the switch.
#[derive(Clone, Debug, Default)]
pub struct FlowTable {
    flows: BTreeMap<FlowKey, FlowEntry>,
    /// Flows one table may hold (OVS's `Flow_Table` `flow_limit`, without
    /// eviction); `None`: no limit.
    limit: Option<usize>,
}

impl FlowTable {
    /// Sets the flow limit of every table.
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.limit = limit;
    }

    /// Forgets every flow (the limit stays: it is configuration).
    pub fn clear(&mut self) {
        self.flows.clear();
    }

    /// How many flows there are.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    fn in_table(&self, table_id: u8) -> impl Iterator<Item = (&FlowKey, &FlowEntry)> {
        let first = FlowKey { table_id, priority: Reverse(u16::MAX), matches: MatchKey::default() };
        self.flows
            .range((Bound::Included(first), Bound::Unbounded))
            .take_while(move |(k, _)| k.table_id == table_id)
    }

    /// Applies one checked flow_mod, noting in `journal` what it replaced.
    ///
    /// # Errors
    /// [`Refusal::TableFull`] when an add finds its table at the limit.
    pub fn apply(&mut self, change: &FlowChange, journal: &mut Journal) -> Result<(), Refusal> {
        match change.command {
            Command::Add => self.add(change, journal),
            Command::ModifyStrict => {
                self.modify_strict(change, journal);
                Ok(())
            }
            Command::DeleteStrict => {
                let doomed = self.selected(change, |key| {
                    key.priority.0 == change.priority && key.matches == change.matches
                });
                self.remove(doomed, journal);
                Ok(())
            }
            Command::Delete => {
                let doomed = self.selected(change, |key| key.matches.includes(&change.matches));
                self.remove(doomed, journal);
                Ok(())
            }
        }
    }

    /// An add replaces the flow of the same identity, cookie included.
    fn add(&mut self, change: &FlowChange, journal: &mut Journal) -> Result<(), Refusal> {
        let key = FlowKey {
            table_id: change.table_id,
            priority: Reverse(change.priority),
            matches: change.matches.clone(),
        };
        let replaced = self.flows.get(&key).cloned();
        if replaced.is_none()
            && self.limit.is_some_and(|limit| self.in_table(change.table_id).count() >= limit)
        {
            return Err(Refusal::TableFull);
        }
        let entry = FlowEntry {
            cookie: change.cookie,
            foreign_match: change.foreign_match.clone(),
            raw_instructions: change.raw_instructions.clone(),
            actions: change.actions.clone(),
        };
        self.flows.insert(key.clone(), entry);
        journal.push((key, replaced));
        Ok(())
    }

    /// Since OpenFlow 1.2 (and in OVS for 1.2+), a strict modify that
    /// finds no flow adds nothing, and it keeps the flow's cookie: its
    /// cookie and mask only select (OVS sets `new_cookie` to "unchanged"
    /// for every modify after OpenFlow 1.1).
    fn modify_strict(&mut self, change: &FlowChange, journal: &mut Journal) {
        let key = FlowKey {
            table_id: change.table_id,
            priority: Reverse(change.priority),
            matches: change.matches.clone(),
        };
        if let Some(entry) = self.flows.get_mut(&key).filter(|e| change.cookie_selects(e.cookie)) {
            journal.push((key, Some(entry.clone())));
            entry.raw_instructions = change.raw_instructions.clone();
            entry.actions = change.actions.clone();
        }
    }

    fn selected(&self, change: &FlowChange, also: impl Fn(&FlowKey) -> bool) -> Vec<FlowKey> {
        self.flows
            .iter()
            .filter(|(key, entry)| change.table_selects(key.table_id) && change.cookie_selects(entry.cookie))
            .filter(|(key, _)| also(key))
            .map(|(key, _)| key.clone())
            .collect()
    }

    fn remove(&mut self, keys: Vec<FlowKey>, journal: &mut Journal) {
        for key in keys {
            let old = self.flows.remove(&key);
            journal.push((key, old));
        }
    }

    /// Undoes what `journal` recorded, newest first.
    pub fn revert(&mut self, journal: Journal) {
        for (key, old) in journal.into_iter().rev() {
            match old {
                Some(entry) => self.flows.insert(key, entry),
                None => self.flows.remove(&key),
            };
        }
    }

    /// The flows a flow stats request selects: in `table_id` (or all),
    /// cookie equal under the mask, match including `criteria`; in dump
    /// order, as the wire entries OVS would send.
    pub fn select(&self, table_id: u8, cookie: u64, mask: u64, criteria: &MatchKey) -> Vec<FlowStatsEntry> {
        self.flows
            .iter()
            .filter(|(key, entry)| {
                (table_id == OFPTT_ALL || key.table_id == table_id)
                    && entry.cookie & mask == cookie & mask
                    && key.matches.includes(criteria)
            })
            .map(|(key, entry)| FlowStatsEntry {
                table_id: key.table_id,
                priority: key.priority.0,
                cookie: entry.cookie,
                raw_match: key.matches.dumped(&entry.foreign_match),
                raw_instructions: entry.raw_instructions.clone(),
            })
            .collect()
    }

    /// The flows the pipeline's model can represent, in dump order.
    pub fn typed(&self) -> Vec<Flow> {
        self.flows.iter().filter_map(|(key, entry)| typed(key, entry)).collect()
    }

    /// Every flow as `ovs-ofctl dump-flows --no-stats` prints it, one per
    /// line in dump order. Flows the model represents print exactly so;
    /// others print their foreign fields as `oxm(class:field)=hex` and
    /// foreign instructions as `raw(hex)`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (key, entry) in &self.flows {
            match typed(key, entry) {
                Some(flow) => {
                    let _ = writeln!(out, "{flow}");
                }
                None => {
                    let _ = writeln!(out, "{}", foreign_text(key, entry));
                }
            }
        }
        out
    }
}

fn typed(key: &FlowKey, entry: &FlowEntry) -> Option<Flow> {
    let table = table_from_id(key.table_id)?;
    let matches = key.matches.known_only()?.to_vec();
    let actions = entry.actions.clone().ok()?;
    Some(Flow::new(Cookie(entry.cookie), table, key.priority.0, matches, actions))
}

fn foreign_text(key: &FlowKey, entry: &FlowEntry) -> String {
    let mut out =
        if entry.cookie == 0 { "cookie=0, ".to_owned() } else { format!("cookie={:#x}, ", entry.cookie) };
    if key.table_id != 0 {
        let _ = write!(out, "table={}, ", key.table_id);
    }
    let _ = write!(out, "priority={}{} actions=", key.priority.0, key.matches.text());
    match &entry.actions {
        Ok(actions) => {
            let actions: Vec<String> = actions.iter().map(ToString::to_string).collect();
            out.push_str(&actions.join(","));
        }
        Err(_) => {
            out.push_str("raw(");
            for byte in &entry.raw_instructions {
                let _ = write!(out, "{byte:02x}");
            }
            out.push(')');
        }
    }
    out
}
