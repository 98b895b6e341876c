//! The OpenFlow pipeline the agent owns, as a typed model that renders to
//! the text `ovs-ofctl -O OpenFlow15 add-flows` reads and `dump-flows`
//! prints.
//!
//! ```text
//!  packet in
//!     │
//!  ┌──▼────────────┐ in_port=return port → reg0[0..3]=6 (FromTCReturn)
//!  │ 0 Classifier  │ in_port=Pod port    → reg0[0..3]=3 (FromPod)
//!  └──┬────────────┘ in_port=target port → drop (nothing enters a target)
//!  ┌──▼────────────────┐
//!  │ 1 L2ForwardingCalc│ dl_dst=local Pod MAC → reg1=its ofport, reg0[8]=1
//!  └──┬────────────────┘
//!  ┌──▼────────────────┐ reg0[0..3]=6                → skip (already controlled)
//!  │ 2 TrafficControl  │ Egress:  in_port=Pod port   → reg9=target, reg4[22..23]
//!  └──┬────────────────┘ Ingress: reg1=Pod port      → reg9=target, reg4[22..23]
//!  ┌──▼────────────────┐ Mirror   (reg4[22..23]=01): output reg1 (or NORMAL) + reg9
//!  │ 3 Output          │ Redirect (reg4[22..23]=10): output reg9 only
//!  └───────────────────┘ otherwise: output reg1 if found, else NORMAL
//! ```
//!
//! Register roles follow Antrea's (reg0 marks, reg1 output port, reg4
//! TrafficControl action, reg8 VLAN, reg9 TrafficControl target), so the
//! flows read like Antrea's to anyone who knows them. OpenFlow 1.5 loads
//! registers with `set_field` (OVS refuses Nicira `reg_load` there).
//!
//! On a bridge with VLANs (a Port `tag` or `trunks`), the Classifier puts
//! a Pod port's access VLAN in reg8 and L2ForwardingCalc finds a
//! destination only in the sender's VLAN: everything else is NORMAL's,
//! which keeps VLANs apart. Copies and redirected packets leave for the
//! target tagged with their VLAN, and a return port's packets are
//! forwarded in the VLAN of their tag (never of their addresses, which a
//! Pod can forge).

use std::cmp::Reverse;
use std::fmt;
use std::str::FromStr;

use sha1::{Digest, Sha1};

/// The pipeline's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Where a packet came from.
    Classifier,
    /// Where a packet goes, when the destination is a local Pod.
    L2ForwardingCalc,
    /// Whether a TrafficControl applies, and where to.
    TrafficControl,
    /// Out.
    Output,
}

impl Table {
    /// Every table, in pipeline order.
    pub const ALL: [Table; 4] =
        [Table::Classifier, Table::L2ForwardingCalc, Table::TrafficControl, Table::Output];

    /// The OpenFlow table id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The table's name (Antrea's).
    pub fn name(self) -> &'static str {
        match self {
            Table::Classifier => "Classifier",
            Table::L2ForwardingCalc => "L2ForwardingCalc",
            Table::TrafficControl => "TrafficControl",
            Table::Output => "Output",
        }
    }
}

/// Bits `start..=end` of register `reg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegField {
    /// The register number (`reg0`..`reg15`).
    pub reg: u8,
    /// The lowest bit.
    pub start: u8,
    /// The highest bit, inclusive.
    pub end: u8,
}

impl RegField {
    const fn new(reg: u8, start: u8, end: u8) -> Self {
        RegField { reg, start, end }
    }

    /// The mask of the field within its 32-bit register.
    pub fn mask(self) -> u32 {
        let width = u32::from(self.end - self.start) + 1;
        let bits = if width >= 32 { u32::MAX } else { (1u32 << width) - 1 };
        bits << self.start
    }

    /// Whether the field is the whole register.
    pub fn is_whole(self) -> bool {
        self.mask() == u32::MAX
    }
}

/// `reg0[0..3]`: where the packet came from.
pub const PACKET_SOURCE: RegField = RegField::new(0, 0, 3);
/// `reg0[8]`: the output port is known (reg1 holds it).
pub const OUTPUT_FOUND: RegField = RegField::new(0, 8, 8);
/// reg1: the output port of a packet for a local Pod.
pub const OUTPUT_PORT: RegField = RegField::new(1, 0, 31);
/// `reg4[22..23]`: the TrafficControl action (0b01 Mirror, 0b10 Redirect).
pub const TC_ACTION: RegField = RegField::new(4, 22, 23);
/// reg9: the TrafficControl target port.
pub const TC_TARGET: RegField = RegField::new(9, 0, 31);
/// `reg8[0..11]`: the VLAN a packet from a Pod belongs to, on a bridge with
/// VLANs (Antrea's register for it).
pub const VLAN_ID: RegField = RegField::new(8, 0, 11);
/// [`VLAN_ID`] of a packet from a trunk port: no VLAN the agent forwards
/// in (NORMAL does, by the packet's tag).
pub const VLAN_OF_TRUNK: u32 = 0xfff;

/// [`PACKET_SOURCE`] of a packet from a local Pod (Antrea's value).
pub const FROM_POD: u32 = 3;
/// [`PACKET_SOURCE`] of a packet back from a return port (Antrea's value).
pub const FROM_TC_RETURN: u32 = 6;
/// [`TC_ACTION`] for Mirror.
pub const ACTION_MIRROR: u32 = 0b01;
/// [`TC_ACTION`] for Redirect.
pub const ACTION_REDIRECT: u32 = 0b10;

/// A flow's cookie: who owns it, so the agent finds (and deletes) only its
/// own flows, and `dump-flows cookie=X/-1` shows one TrafficControl's.
///
/// Layout: bits 48..63 `0x7463` ("tc", the agent), bits 40..47 the
/// category, bits 0..31 the first 4 bytes of SHA-1 of the TrafficControl's
/// name (TrafficControl flows only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cookie(pub u64);

impl Cookie {
    /// The bits every cookie of the agent has.
    pub const AGENT: u64 = 0x7463 << 48;
    /// The mask that selects the agent's flows.
    pub const AGENT_MASK: u64 = 0xffff << 48;
    /// The mask that selects one category or one TrafficControl.
    pub const EXACT_MASK: u64 = u64::MAX;

    /// Flows of the pipeline itself (tables' defaults, Pod forwarding).
    pub fn pipeline() -> Self {
        Cookie(Self::AGENT | (1 << 40))
    }

    /// Flows that classify packets from TrafficControl ports.
    pub fn port() -> Self {
        Cookie(Self::AGENT | (2 << 40))
    }

    /// The flows of one TrafficControl.
    pub fn traffic_control(name: &str) -> Self {
        let digest = Sha1::digest(name.as_bytes());
        let id = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        Cookie(Self::AGENT | (3 << 40) | u64::from(id))
    }

    /// Whether the agent made this cookie.
    pub fn is_agents(self) -> bool {
        self.0 & Self::AGENT_MASK == Self::AGENT
    }
}

/// An Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut bytes {
            let part =
                parts.next().filter(|p| p.len() == 2).ok_or_else(|| format!("{s:?} is not a MAC address"))?;
            *byte = u8::from_str_radix(part, 16).map_err(|_| format!("{s:?} is not a MAC address"))?;
        }
        if parts.next().is_some() {
            return Err(format!("{s:?} is not a MAC address"));
        }
        Ok(MacAddr(bytes))
    }
}

/// One match field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Match {
    /// A register field equals a value (printed before `in_port`, as OVS does).
    Reg(RegField, u32),
    /// The packet came in on this port.
    InPort(u32),
    /// The packet's 802.1Q tag.
    Vlan(VlanMatch),
    /// The Ethernet destination.
    DlDst(MacAddr),
}

/// What a [`Match::Vlan`] asks of the packet's 802.1Q tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VlanMatch {
    /// Tagged with this VLAN ID (`dl_vlan=N`).
    Id(u16),
    /// Tagged, whatever the VLAN (`vlan_tci=0x1000/0x1000`).
    Tagged,
}

/// The bit of OpenFlow's VLAN_VID that says a tag is present
/// (`OFPVID_PRESENT`).
pub const VLAN_PRESENT: u16 = 0x1000;

/// One action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Load a value into a register field.
    SetField(RegField, u32),
    /// Continue in a later table.
    GotoTable(Table),
    /// Output to the port a register field names.
    OutputReg(RegField),
    /// Forward as a learning switch.
    Normal,
    /// Push an 802.1Q tag (VLAN ID 0 until [`Action::SetVlanVid`]).
    PushVlan,
    /// Set the outer tag's VLAN ID.
    SetVlanVid(u16),
    /// Pop the outer 802.1Q tag.
    PopVlan,
    /// Drop (an empty action list).
    Drop,
}

/// One flow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Who owns it.
    pub cookie: Cookie,
    /// Its table.
    pub table: Table,
    /// Its priority.
    pub priority: u16,
    /// Its matches, in printing order.
    pub matches: Vec<Match>,
    /// Its actions, in order.
    pub actions: Vec<Action>,
}

impl Flow {
    /// A flow with its matches put in OVS's printing order.
    pub fn new(
        cookie: Cookie,
        table: Table,
        priority: u16,
        mut matches: Vec<Match>,
        actions: Vec<Action>,
    ) -> Self {
        matches.sort();
        Flow { cookie, table, priority, matches, actions }
    }

    /// What identifies a flow in its table: OpenFlow's (priority, match).
    pub fn key(&self) -> (Table, Reverse<u16>, &[Match]) {
        (self.table, Reverse(self.priority), &self.matches)
    }

    /// The ofports the flow refers to, in matches and in set_field loads
    /// of port registers.
    pub fn ofports(&self) -> Vec<u32> {
        let from_matches = self.matches.iter().filter_map(|m| match m {
            Match::InPort(port) => Some(*port),
            Match::Reg(field, port) if *field == OUTPUT_PORT || *field == TC_TARGET => Some(*port),
            _ => None,
        });
        let from_actions = self.actions.iter().filter_map(|a| match a {
            Action::SetField(field, port) if *field == OUTPUT_PORT || *field == TC_TARGET => Some(*port),
            _ => None,
        });
        from_matches.chain(from_actions).collect()
    }
}

impl serde::Serialize for Flow {
    /// As its `ovs-ofctl` text, the form people and tools read.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl PartialOrd for Flow {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Flow {
    /// Table, then priority high to low, then match: the order of a dump.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key()
            .cmp(&other.key())
            .then_with(|| self.cookie.cmp(&other.cookie))
            .then_with(|| self.actions.cmp(&other.actions))
    }
}

/// `0x..` as OVS prints it (`0` for zero).
fn hex(value: u64) -> String {
    if value == 0 { "0".to_owned() } else { format!("{value:#x}") }
}

fn masked(field: RegField, value: u32) -> String {
    let shifted = u64::from((value << field.start) & field.mask());
    if field.is_whole() { hex(shifted) } else { format!("{}/{}", hex(shifted), hex(u64::from(field.mask()))) }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Match::Reg(field, value) => write!(f, "reg{}={}", field.reg, masked(*field, *value)),
            Match::InPort(port) => write!(f, "in_port={port}"),
            Match::Vlan(VlanMatch::Id(vid)) => write!(f, "dl_vlan={vid}"),
            Match::Vlan(VlanMatch::Tagged) => write!(f, "vlan_tci={VLAN_PRESENT:#x}/{VLAN_PRESENT:#x}"),
            Match::DlDst(mac) => write!(f, "dl_dst={mac}"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetField(field, value) => {
                write!(f, "set_field:{}->reg{}", masked(*field, *value), field.reg)
            }
            Action::GotoTable(table) => write!(f, "goto_table:{}", table.id()),
            Action::OutputReg(field) if field.is_whole() => write!(f, "output:NXM_NX_REG{}[]", field.reg),
            Action::OutputReg(field) => {
                write!(f, "output:NXM_NX_REG{}[{}..{}]", field.reg, field.start, field.end)
            }
            Action::Normal => f.write_str("NORMAL"),
            Action::PushVlan => f.write_str("push_vlan:0x8100"),
            Action::SetVlanVid(vid) => write!(f, "set_field:{}->vlan_vid", vid | VLAN_PRESENT),
            Action::PopVlan => f.write_str("pop_vlan"),
            Action::Drop => f.write_str("drop"),
        }
    }
}

impl fmt::Display for Flow {
    /// `cookie=0x.., table=N, priority=P,MATCHES actions=ACTIONS`: exactly
    /// what `dump-flows --no-stats` prints (which leaves out `table=0`),
    /// and what `add-flows` reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cookie={}, ", hex(self.cookie.0))?;
        if self.table.id() != 0 {
            write!(f, "table={}, ", self.table.id())?;
        }
        write!(f, "priority={}", self.priority)?;
        for m in &self.matches {
            write!(f, ",{m}")?;
        }
        f.write_str(" actions=")?;
        if self.actions.is_empty() {
            return f.write_str("drop");
        }
        for (i, action) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{action}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_fields_print_masked_unless_whole() {
        assert_eq!(Match::Reg(PACKET_SOURCE, FROM_TC_RETURN).to_string(), "reg0=0x6/0xf");
        assert_eq!(Match::Reg(OUTPUT_FOUND, 0).to_string(), "reg0=0/0x100");
        assert_eq!(Match::Reg(TC_ACTION, ACTION_REDIRECT).to_string(), "reg4=0x800000/0xc00000");
        assert_eq!(Match::Reg(OUTPUT_PORT, 5).to_string(), "reg1=0x5");
        assert_eq!(Action::SetField(TC_TARGET, 7).to_string(), "set_field:0x7->reg9");
        assert_eq!(Action::SetField(OUTPUT_FOUND, 1).to_string(), "set_field:0x100/0x100->reg0");
        assert_eq!(Action::OutputReg(OUTPUT_PORT).to_string(), "output:NXM_NX_REG1[]");
    }

    #[test]
    fn vlan_matches_and_actions_print_as_ovs_ofctl_does() {
        assert_eq!(Match::Vlan(VlanMatch::Id(10)).to_string(), "dl_vlan=10");
        assert_eq!(Match::Vlan(VlanMatch::Tagged).to_string(), "vlan_tci=0x1000/0x1000");
        assert_eq!(Action::SetVlanVid(10).to_string(), "set_field:4106->vlan_vid");
        let flow = Flow::new(
            Cookie::port(),
            Table::Classifier,
            210,
            vec![Match::Vlan(VlanMatch::Id(20)), Match::InPort(4)],
            vec![Action::PopVlan, Action::PushVlan, Action::GotoTable(Table::L2ForwardingCalc)],
        );
        assert_eq!(
            flow.to_string(),
            "cookie=0x7463020000000000, priority=210,in_port=4,dl_vlan=20 actions=pop_vlan,push_vlan:0x8100,goto_table:1"
        );
    }

    #[test]
    fn flows_print_as_dump_flows_does() {
        let flow = Flow::new(
            Cookie::pipeline(),
            Table::Output,
            300,
            vec![Match::Reg(TC_ACTION, ACTION_MIRROR), Match::Reg(OUTPUT_FOUND, 1)],
            vec![Action::OutputReg(OUTPUT_PORT), Action::OutputReg(TC_TARGET)],
        );
        assert_eq!(
            flow.to_string(),
            "cookie=0x7463010000000000, table=3, priority=300,reg0=0x100/0x100,reg4=0x400000/0xc00000 actions=output:NXM_NX_REG1[],output:NXM_NX_REG9[]"
        );
        let drop =
            Flow::new(Cookie::port(), Table::Classifier, 200, vec![Match::InPort(9)], vec![Action::Drop]);
        assert_eq!(drop.to_string(), "cookie=0x7463020000000000, priority=200,in_port=9 actions=drop");
    }

    #[test]
    fn cookies_mark_the_agents_flows_and_each_traffic_control() {
        let a = Cookie::traffic_control("mirror-web-app");
        assert!(a.is_agents() && Cookie::pipeline().is_agents() && Cookie::port().is_agents());
        assert_ne!(a, Cookie::traffic_control("mirror-all-to-remote"));
        assert_eq!(a, Cookie::traffic_control("mirror-web-app"));
        assert!(!Cookie(0).is_agents());
    }

    #[test]
    fn flows_sort_by_table_then_priority_descending() {
        let f = |table, priority, port| {
            Flow::new(Cookie::pipeline(), table, priority, vec![Match::InPort(port)], vec![])
        };
        let mut flows = [
            f(Table::Output, 0, 1),
            f(Table::Classifier, 0, 1),
            f(Table::Classifier, 200, 2),
            f(Table::Classifier, 200, 1),
        ];
        flows.sort();
        let order: Vec<(u8, u16)> = flows.iter().map(|f| (f.table.id(), f.priority)).collect();
        assert_eq!(order, [(0, 200), (0, 200), (0, 0), (3, 0)]);
        assert_eq!(flows[0].matches, [Match::InPort(1)]);
    }

    #[test]
    fn mac_addresses_parse_strictly() {
        assert_eq!("0a:58:0a:00:00:05".parse::<MacAddr>().unwrap().to_string(), "0a:58:0a:00:00:05");
        for bad in ["", "0a:58:0a:00:00", "0a:58:0a:00:00:05:01", "zz:58:0a:00:00:05", "a:58:0a:00:00:05"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}
