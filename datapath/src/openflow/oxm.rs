//! OXM: how matches (and set-field values) are laid out on the wire, for
//! the fields the pipeline uses: `in_port`, `vlan_vid`, `eth_dst` and the
//! registers.
//!
//! We send registers as Nicira `reg0`..`reg15` (class 0x0001), which OVS
//! accepts in every version; OVS *reports* them in OpenFlow 1.5 as packet
//! registers (class 0x8001, `xregN` = `reg2N` in the high 32 bits and
//! `reg2N+1` in the low ones), so both are read.

use super::DecodeError;
use super::wire::{Reader, Writer, len16};
use crate::flows::{MacAddr, Match, RegField, VLAN_PRESENT, VlanMatch};

const CLASS_BASIC: u16 = 0x8000;
const CLASS_NXM1: u16 = 0x0001;
const CLASS_PACKET_REGS: u16 = 0x8001;
const FIELD_IN_PORT: u8 = 0;
const FIELD_ETH_DST: u8 = 3;
const FIELD_VLAN_VID: u8 = 6;
/// VLAN_VID's bits: the VLAN ID and [`VLAN_PRESENT`].
const VLAN_VID_BITS: u16 = 0x1fff;
const OFPMT_OXM: u16 = 1;

/// One OXM TLV's header: class, field, has-mask, payload length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OxmHeader {
    /// The OXM class.
    pub class: u16,
    /// The field within the class.
    pub field: u8,
    /// Whether a mask follows the value.
    pub has_mask: bool,
    /// Payload bytes (value, plus mask when masked).
    pub len: u8,
}

impl OxmHeader {
    /// The 32-bit header as it appears on the wire.
    pub fn to_u32(self) -> u32 {
        (u32::from(self.class) << 16)
            | (u32::from(self.field) << 9)
            | (u32::from(self.has_mask) << 8)
            | u32::from(self.len)
    }

    /// A header from its 32-bit form.
    pub fn from_u32(v: u32) -> Self {
        OxmHeader {
            class: (v >> 16) as u16,
            field: ((v >> 9) & 0x7f) as u8,
            has_mask: v & 0x100 != 0,
            len: v as u8,
        }
    }

    /// The unmasked header of register `reg`.
    pub fn register(reg: u8) -> Self {
        OxmHeader { class: CLASS_NXM1, field: reg, has_mask: false, len: 4 }
    }
}

/// A register field and value as an OXM TLV: unmasked when the field is
/// the whole register, masked otherwise.
pub fn write_register(w: &mut Writer, field: RegField, value: u32) {
    if field.is_whole() {
        w.u32(OxmHeader::register(field.reg).to_u32()).u32(value);
    } else {
        let header = OxmHeader { class: CLASS_NXM1, field: field.reg, has_mask: true, len: 8 };
        w.u32(header.to_u32()).u32((value << field.start) & field.mask()).u32(field.mask());
    }
}

/// One match field as an OXM TLV.
pub fn write_match_field(w: &mut Writer, m: &Match) {
    match m {
        Match::InPort(port) => {
            w.u32(OxmHeader { class: CLASS_BASIC, field: FIELD_IN_PORT, has_mask: false, len: 4 }.to_u32())
                .u32(*port);
        }
        Match::DlDst(mac) => {
            w.u32(OxmHeader { class: CLASS_BASIC, field: FIELD_ETH_DST, has_mask: false, len: 6 }.to_u32())
                .bytes(&mac.0);
        }
        Match::Vlan(VlanMatch::Id(vid)) => write_vlan_vid(w, *vid),
        Match::Vlan(VlanMatch::Tagged) => {
            w.u32(OxmHeader { class: CLASS_BASIC, field: FIELD_VLAN_VID, has_mask: true, len: 4 }.to_u32())
                .u16(VLAN_PRESENT)
                .u16(VLAN_PRESENT);
        }
        Match::Reg(field, value) => write_register(w, *field, *value),
    }
}

/// VLAN_VID = `vid`, tagged: a match, or the value of a set-field.
pub fn write_vlan_vid(w: &mut Writer, vid: u16) {
    w.u32(OxmHeader { class: CLASS_BASIC, field: FIELD_VLAN_VID, has_mask: false, len: 2 }.to_u32())
        .u16(VLAN_PRESENT | (vid & 0xfff));
}

/// A VLAN match from VLAN_VID's value and mask, for the two shapes the
/// pipeline makes (a full mask is OVS's way of saying unmasked).
fn vlan_from(value: u16, mask: u16) -> Option<VlanMatch> {
    match (value & mask, mask) {
        (v, VLAN_VID_BITS) if v & VLAN_PRESENT != 0 => Some(VlanMatch::Id(v & 0xfff)),
        (VLAN_PRESENT, VLAN_PRESENT) => Some(VlanMatch::Tagged),
        _ => None,
    }
}

/// An `ofp_match` (type OXM) holding `matches`, padded to 8 bytes.
pub fn write_match(w: &mut Writer, matches: &[Match]) {
    let start = w.len();
    w.u16(OFPMT_OXM).u16(0);
    for m in matches {
        write_match_field(w, m);
    }
    let len = w.len() - start;
    w.set_u16(start + 2, len16(len));
    w.pad8_from(start);
}

/// `matches` as OVS reports them in an OpenFlow 1.5 flow dump: `in_port`,
/// `eth_dst`, then the registers paired into packet registers (`xregN` holds
/// `reg2N` in its high half and `reg2N+1` in its low one), unmasked when
/// both halves are whole. Only the TLVs, no `ofp_match` header: a switch
/// appends the fields it does not model as they came.
pub fn write_fields_as_dumped(w: &mut Writer, matches: &[Match]) {
    let mut registers = [(0u32, 0u32); 16];
    for m in matches {
        match m {
            Match::Reg(field, value) => {
                // Registers past reg15 do not exist; the codec never reads one.
                let Some((v, mask)) = registers.get_mut(usize::from(field.reg)) else { continue };
                *v |= value.checked_shl(u32::from(field.start)).unwrap_or(0) & field.mask();
                *mask |= field.mask();
            }
            other => write_match_field(w, other),
        }
    }
    for (xreg, pair) in (0u8..).zip(registers.chunks_exact(2)) {
        let value = (u64::from(pair[0].0) << 32) | u64::from(pair[1].0);
        let mask = (u64::from(pair[0].1) << 32) | u64::from(pair[1].1);
        if mask == u64::MAX {
            w.u32(OxmHeader { class: CLASS_PACKET_REGS, field: xreg, has_mask: false, len: 8 }.to_u32())
                .u64(value);
        } else if mask != 0 {
            w.u32(OxmHeader { class: CLASS_PACKET_REGS, field: xreg, has_mask: true, len: 16 }.to_u32())
                .u64(value)
                .u64(mask);
        }
    }
}

/// A register field and value from a register's (value, mask), when the
/// mask is one contiguous run of bits.
pub fn register_from(reg: u8, value: u32, mask: u32) -> Option<(RegField, u32)> {
    if mask == 0 {
        return None;
    }
    let start = mask.trailing_zeros() as u8;
    let end = 31 - mask.leading_zeros() as u8;
    let field = RegField { reg, start, end };
    (field.mask() == mask).then_some((field, (value & mask) >> start))
}

/// What an OXM TLV says, in the pipeline's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// A field the pipeline uses.
    Known(Match),
    /// Any other field (someone else's flow, or a shape we never make).
    Other(OxmHeader),
}

/// Reads one OXM TLV: usually one field, two when a 64-bit packet register
/// covers two of our registers.
///
/// # Errors
/// [`DecodeError::Malformed`] when the TLV is cut short.
pub fn read_field(r: &mut Reader<'_>) -> Result<Vec<Field>, DecodeError> {
    let header = OxmHeader::from_u32(r.u32()?);
    let mut payload = r.sub(usize::from(header.len), "OXM field")?;
    let other = || vec![Field::Other(header)];
    let known = |m: Match| vec![Field::Known(m)];
    Ok(match (header.class, header.field, header.has_mask, header.len) {
        (CLASS_BASIC, FIELD_IN_PORT, false, 4) => known(Match::InPort(payload.u32()?)),
        (CLASS_BASIC, FIELD_ETH_DST, false, 6) => known(Match::DlDst(MacAddr(payload.mac()?))),
        (CLASS_BASIC, FIELD_VLAN_VID, has_mask, len @ (2 | 4)) if has_mask == (len == 4) => {
            let value = payload.u16()?;
            let mask = if has_mask { payload.u16()? } else { VLAN_VID_BITS };
            vlan_from(value, mask).map_or_else(other, |vlan| known(Match::Vlan(vlan)))
        }
        (CLASS_NXM1, reg @ 0..=15, false, 4) => {
            known(Match::Reg(RegField { reg, start: 0, end: 31 }, payload.u32()?))
        }
        (CLASS_NXM1, reg @ 0..=15, true, 8) => {
            let (value, mask) = (payload.u32()?, payload.u32()?);
            register_from(reg, value, mask)
                .map_or_else(other, |(field, value)| known(Match::Reg(field, value)))
        }
        (CLASS_PACKET_REGS, xreg @ 0..=7, has_mask, len @ (8 | 16)) if has_mask == (len == 16) => {
            let value = payload.u64()?;
            let mask = if has_mask { payload.u64()? } else { u64::MAX };
            let halves = [
                (xreg * 2, (value >> 32) as u32, (mask >> 32) as u32),
                (xreg * 2 + 1, value as u32, mask as u32),
            ];
            let mut fields = Vec::new();
            for (reg, value, mask) in halves.into_iter().filter(|(_, _, mask)| *mask != 0) {
                match register_from(reg, value, mask) {
                    Some((field, value)) => fields.push(Field::Known(Match::Reg(field, value))),
                    None => return Ok(other()),
                }
            }
            fields
        }
        _ => other(),
    })
}

/// Reads an `ofp_match` (and its padding); returns the fields and the raw
/// OXM bytes (for a strict delete of a flow we cannot represent).
///
/// # Errors
/// [`DecodeError::Malformed`] when the match is not an OXM match or is cut
/// short.
pub fn read_match(r: &mut Reader<'_>) -> Result<(Vec<Field>, Vec<u8>), DecodeError> {
    let kind = r.u16()?;
    let len = usize::from(r.u16()?);
    if kind != OFPMT_OXM || len < 4 {
        return Err(DecodeError::malformed("match", format!("type {kind} length {len} is not an OXM match")));
    }
    let raw = r.bytes(len - 4)?;
    r.skip(len.next_multiple_of(8) - len)?;
    let mut fields = Reader::new(raw, "match fields");
    let mut out = Vec::new();
    while fields.remaining() > 0 {
        out.extend(read_field(&mut fields)?);
    }
    Ok((out, raw.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{OUTPUT_FOUND, OUTPUT_PORT, PACKET_SOURCE, TC_ACTION};

    #[test]
    fn matches_round_trip_through_the_wire() {
        let matches = vec![
            Match::Reg(PACKET_SOURCE, 6),
            Match::Reg(OUTPUT_FOUND, 1),
            Match::Reg(OUTPUT_PORT, 7),
            Match::Reg(TC_ACTION, 2),
            Match::InPort(65279),
            Match::Vlan(VlanMatch::Id(4094)),
            Match::Vlan(VlanMatch::Tagged),
            Match::DlDst("0a:58:0a:00:00:05".parse().unwrap()),
        ];
        let mut w = Writer::new();
        write_match(&mut w, &matches);
        let bytes = w.finish();
        assert_eq!(bytes.len() % 8, 0);
        let (fields, raw) = read_match(&mut Reader::new(&bytes, "test")).unwrap();
        let back: Vec<Match> =
            fields.into_iter().map(|f| if let Field::Known(m) = f { m } else { panic!("{f:?}") }).collect();
        assert_eq!(back, matches);
        assert_eq!(raw.len() + 4, usize::from(u16::from_be_bytes([bytes[2], bytes[3]])));
    }

    #[test]
    fn vlan_matches_are_laid_out_as_ovs_sends_them() {
        // dl_vlan=10 and vlan_tci=0x1000/0x1000, from `ovs-ofctl -O
        // OpenFlow15 parse-flows`.
        let mut w = Writer::new();
        write_match_field(&mut w, &Match::Vlan(VlanMatch::Id(10)));
        assert_eq!(w.finish(), [0x80, 0x00, 0x0c, 0x02, 0x10, 0x0a]);
        let mut w = Writer::new();
        write_match_field(&mut w, &Match::Vlan(VlanMatch::Tagged));
        assert_eq!(w.finish(), [0x80, 0x00, 0x0d, 0x04, 0x10, 0x00, 0x10, 0x00]);
        // Untagged (vlan_tci=0) is not a shape the pipeline makes.
        let untagged = [0x80, 0x00, 0x0c, 0x02, 0x00, 0x00];
        assert!(matches!(read_field(&mut Reader::new(&untagged, "t")).as_deref(), Ok([Field::Other(_)])));
        let full_mask = [0x80, 0x00, 0x0d, 0x04, 0x10, 0x14, 0x1f, 0xff];
        assert_eq!(
            read_field(&mut Reader::new(&full_mask, "t")).unwrap(),
            [Field::Known(Match::Vlan(VlanMatch::Id(20)))]
        );
    }

    #[test]
    fn an_empty_match_is_eight_bytes() {
        let mut w = Writer::new();
        write_match(&mut w, &[]);
        assert_eq!(w.finish(), [0, 1, 0, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn register_headers_are_nicira_class_one() {
        assert_eq!(OxmHeader::register(0).to_u32(), 0x0001_0004);
        assert_eq!(OxmHeader::register(9).to_u32(), 0x0001_1204);
        assert_eq!(
            OxmHeader::from_u32(0x0001_1108),
            OxmHeader { class: 1, field: 8, has_mask: true, len: 8 }
        );
    }

    #[test]
    fn packet_registers_as_ovs_dumps_them_read_as_two_registers() {
        // xreg0=0x6_00000005/0xf_ffffffff: reg0=0x6/0xf and reg1=0x5, as
        // `ovs-vswitchd` 3.1 reports them in an OpenFlow 1.5 flow dump.
        let bytes = [0x80, 0x01, 0x01, 0x10, 0, 0, 0, 6, 0, 0, 0, 5, 0, 0, 0, 0x0f, 0xff, 0xff, 0xff, 0xff];
        let fields = read_field(&mut Reader::new(&bytes, "test")).unwrap();
        assert_eq!(
            fields,
            [Field::Known(Match::Reg(PACKET_SOURCE, 6)), Field::Known(Match::Reg(OUTPUT_PORT, 5))]
        );
        let high_only = [0x80, 0x01, 0x01, 0x10, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0, 0, 0, 0];
        assert_eq!(
            read_field(&mut Reader::new(&high_only, "test")).unwrap(),
            [Field::Known(Match::Reg(PACKET_SOURCE, 6))]
        );
        let unmasked = [0x80, 0x01, 0x02, 0x08, 0, 0, 0, 1, 0, 0, 0, 2];
        let both = read_field(&mut Reader::new(&unmasked, "test")).unwrap();
        assert_eq!(both.len(), 2);
    }

    #[test]
    fn matches_dumped_as_packet_registers_read_back_as_the_same_matches() {
        let matches = vec![
            Match::Reg(PACKET_SOURCE, 6),
            Match::Reg(OUTPUT_PORT, 7),
            Match::Reg(TC_ACTION, 2),
            Match::Reg(crate::flows::TC_TARGET, 9),
            Match::InPort(65279),
            Match::DlDst("0a:58:0a:00:00:05".parse().unwrap()),
        ];
        let mut w = Writer::new();
        write_fields_as_dumped(&mut w, &matches);
        let bytes = w.finish();
        let mut r = Reader::new(&bytes, "test");
        let mut back = Vec::new();
        let mut classes = Vec::new();
        while r.remaining() > 0 {
            let at = bytes.len() - r.remaining();
            classes.push(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
            back.extend(read_field(&mut r).unwrap().into_iter().map(|f| match f {
                Field::Known(m) => m,
                Field::Other(h) => panic!("{h:?}"),
            }));
        }
        back.sort();
        let mut expected = matches.clone();
        expected.sort();
        assert_eq!(back, expected);
        // in_port, eth_dst, xreg0 (reg0 and reg1), xreg2 (reg4), xreg4 (reg9).
        assert_eq!(
            classes,
            [CLASS_BASIC, CLASS_BASIC, CLASS_PACKET_REGS, CLASS_PACKET_REGS, CLASS_PACKET_REGS]
        );
    }

    #[test]
    fn a_pair_of_whole_registers_is_dumped_unmasked() {
        let mut w = Writer::new();
        write_fields_as_dumped(
            &mut w,
            &[Match::Reg(crate::flows::TC_TARGET, 9), Match::Reg(RegField { reg: 8, start: 0, end: 31 }, 1)],
        );
        assert_eq!(w.finish(), [0x80, 0x01, 0x08, 0x08, 0, 0, 0, 1, 0, 0, 0, 9]);
    }

    #[test]
    fn non_contiguous_masks_are_not_register_fields() {
        assert_eq!(register_from(0, 5, 0b101), None);
        assert_eq!(register_from(4, 0x800000, 0xc00000), Some((TC_ACTION, 2)));
    }

    #[test]
    fn unknown_and_truncated_fields_are_reported_not_panicked_on() {
        let mut r = Reader::new(&[0x80, 0x00, 0x0a, 0x02, 0x08, 0x00], "test");
        assert!(matches!(read_field(&mut r).as_deref(), Ok([Field::Other(h)]) if h.field == 5));
        let mut short = Reader::new(&[0x80, 0x00, 0x00, 0x04, 0x00], "test");
        assert!(read_field(&mut short).is_err());
    }
}
