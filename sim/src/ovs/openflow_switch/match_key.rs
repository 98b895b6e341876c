//! A flow's match as the switch holds it: the fields the codec models
//! (`in_port`, `vlan_vid`, `eth_dst`, register fields) in the pipeline's terms and
//! sorted, so that one match sent as Nicira registers and dumped back as
//! packet registers is the same match; and every other OXM field as the
//! bytes it came in, so a flow the agent does not understand is dumped
//! back as it came and can be deleted by those bytes.
//!
//! Like OVS, a field matched twice (a register in two TLVs) is refused.
//! Not modelled: masks on `in_port`/`eth_dst` and fields' prerequisites.

use std::fmt::Write as _;

use datapath::flows::{Match, RegField, VlanMatch};
use datapath::openflow::oxm::{self, Field, OxmHeader};
use datapath::openflow::wire::{Reader, Writer};

use super::refusal::Refusal;

/// A match, as an identity: fields as a set.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MatchKey {
    /// The fields the codec models, sorted (the order `Flow` prints).
    known: Vec<Match>,
    /// Every other TLV, whole, sorted.
    foreign: Vec<Vec<u8>>,
}

/// A parsed match: its identity and its foreign TLVs in the order sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedMatch {
    /// The identity.
    pub key: MatchKey,
    /// The foreign TLVs as they came, to dump them back so.
    pub foreign_as_sent: Vec<u8>,
}

/// Which field a TLV sets, to find one set twice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    InPort,
    Vlan,
    EthDst,
    Register(u8),
    Other(u16, u8),
}

fn slot_of(m: &Match) -> Slot {
    match m {
        Match::InPort(_) => Slot::InPort,
        Match::Vlan(_) => Slot::Vlan,
        Match::DlDst(_) => Slot::EthDst,
        Match::Reg(field, _) => Slot::Register(field.reg),
    }
}

impl MatchKey {
    /// The key of fields in the pipeline's terms (flow stats criteria).
    pub fn of(matches: &[Match]) -> Self {
        let mut known = matches.to_vec();
        known.sort();
        MatchKey { known, foreign: Vec::new() }
    }

    /// Parses the OXM TLVs of a match (no `ofp_match` header).
    ///
    /// # Errors
    /// [`Refusal::MatchBadLen`] for a TLV cut short,
    /// [`Refusal::DupField`] for a field set twice.
    pub fn parse(raw: &[u8]) -> Result<ParsedMatch, Refusal> {
        let mut r = Reader::new(raw, "match");
        let mut key = MatchKey::default();
        let mut foreign_as_sent = Vec::new();
        let mut slots = Vec::new();
        while r.remaining() > 0 {
            let start = raw.len() - r.remaining();
            let fields = oxm::read_field(&mut r).map_err(|_| Refusal::MatchBadLen)?;
            let tlv = &raw[start..raw.len() - r.remaining()];
            for field in fields {
                let slot = match &field {
                    Field::Known(m) => slot_of(m),
                    Field::Other(header) => Slot::Other(header.class, header.field),
                };
                if slots.contains(&slot) {
                    return Err(Refusal::DupField);
                }
                slots.push(slot);
                match field {
                    Field::Known(m) => key.known.push(m),
                    Field::Other(_) => {
                        key.foreign.push(tlv.to_vec());
                        foreign_as_sent.extend_from_slice(tlv);
                    }
                }
            }
        }
        key.known.sort();
        key.foreign.sort();
        Ok(ParsedMatch { key, foreign_as_sent })
    }

    /// The fields in the pipeline's terms, when there are no others.
    pub fn known_only(&self) -> Option<&[Match]> {
        self.foreign.is_empty().then_some(self.known.as_slice())
    }

    /// Whether a flow with this match is selected by `criteria` loosely, as
    /// OpenFlow's flow stats request and non-strict delete select: the flow
    /// matches on at least the criteria's fields, with the same values
    /// under the criteria's masks.
    pub fn includes(&self, criteria: &MatchKey) -> bool {
        criteria.known.iter().all(|wanted| self.known.iter().any(|held| covers(held, wanted)))
            && criteria.foreign.iter().all(|tlv| self.foreign.contains(tlv))
    }

    /// The TLVs as OVS dumps them in OpenFlow 1.5 (registers as packet
    /// registers), then the foreign ones as they came.
    pub fn dumped(&self, foreign_as_sent: &[u8]) -> Vec<u8> {
        let mut w = Writer::new();
        oxm::write_fields_as_dumped(&mut w, &self.known);
        w.bytes(foreign_as_sent);
        w.finish()
    }

    /// The fields as `dump-flows` prints them, foreign ones as hex.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for m in &self.known {
            let _ = write!(out, ",{m}");
        }
        for tlv in &self.foreign {
            let header = tlv.get(..4).map_or(0, |h| u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
            let header = OxmHeader::from_u32(header);
            let _ = write!(out, ",oxm({:#06x}:{})=", header.class, header.field);
            for byte in tlv.get(4..).unwrap_or_default() {
                let _ = write!(out, "{byte:02x}");
            }
        }
        out
    }
}

/// Whether the held field `held` matches at least what `wanted` asks.
fn covers(held: &Match, wanted: &Match) -> bool {
    match (held, wanted) {
        (Match::Reg(held_field, held_value), Match::Reg(wanted_field, wanted_value)) => {
            let (value, mask) = register_bits(*held_field, *held_value);
            let (wanted_value, wanted_mask) = register_bits(*wanted_field, *wanted_value);
            held_field.reg == wanted_field.reg
                && mask & wanted_mask == wanted_mask
                && value & wanted_mask == wanted_value
        }
        (Match::Vlan(VlanMatch::Id(_)), Match::Vlan(VlanMatch::Tagged)) => true,
        _ => held == wanted,
    }
}

/// A register field's value and mask within the 32-bit register.
fn register_bits(field: RegField, value: u32) -> (u32, u32) {
    (value.checked_shl(u32::from(field.start)).unwrap_or(0) & field.mask(), field.mask())
}
