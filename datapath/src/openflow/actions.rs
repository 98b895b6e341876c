//! Instructions and actions on the wire, for what the pipeline does:
//! `goto_table`, `output` (NORMAL), `set_field` on registers (masked, as
//! OpenFlow 1.5 allows: OVS refuses Nicira `reg_load` there) and on
//! `vlan_vid`, `push_vlan`, `pop_vlan` and Nicira `output:NXM_NX_REGn[]`
//! (`NXAST_OUTPUT_REG`).

use super::DecodeError;
use super::oxm::{self, Field, OxmHeader};
use super::wire::{Reader, Writer, len16};
use crate::flows::{Action, Match, RegField, Table, VlanMatch};

const OFPIT_GOTO_TABLE: u16 = 1;
const OFPIT_APPLY_ACTIONS: u16 = 4;
const OFPAT_OUTPUT: u16 = 0;
const OFPAT_PUSH_VLAN: u16 = 17;
const OFPAT_POP_VLAN: u16 = 18;
const OFPAT_SET_FIELD: u16 = 25;
const ETH_TYPE_8021Q: u16 = 0x8100;
const OFPAT_EXPERIMENTER: u16 = 0xffff;
const NX_VENDOR_ID: u32 = 0x0000_2320;
const NXAST_OUTPUT_REG: u16 = 15;
/// The reserved port NORMAL (the switch's L2 learning).
pub const OFPP_NORMAL: u32 = 0xffff_fffa;

/// Writes the instructions that carry `actions`: one apply-actions, then
/// goto-table if any (OpenFlow requires that order). Drop is no
/// instruction at all.
pub fn write_instructions(w: &mut Writer, actions: &[Action]) {
    let applied: Vec<&Action> =
        actions.iter().filter(|a| !matches!(a, Action::GotoTable(_) | Action::Drop)).collect();
    if !applied.is_empty() {
        let start = w.len();
        w.u16(OFPIT_APPLY_ACTIONS).u16(0).zeros(4);
        for action in applied {
            write_action(w, action);
        }
        w.set_u16(start + 2, len16(w.len() - start));
    }
    if let Some(Action::GotoTable(table)) = actions.iter().find(|a| matches!(a, Action::GotoTable(_))) {
        w.u16(OFPIT_GOTO_TABLE).u16(8).u8(table.id()).zeros(3);
    }
}

fn write_action(w: &mut Writer, action: &Action) {
    match action {
        Action::Normal => {
            w.u16(OFPAT_OUTPUT).u16(16).u32(OFPP_NORMAL).u16(0).zeros(6);
        }
        Action::SetField(field, value) => {
            let start = w.len();
            w.u16(OFPAT_SET_FIELD).u16(0);
            oxm::write_register(w, *field, *value);
            w.pad8_from(start);
            w.set_u16(start + 2, len16(w.len() - start));
        }
        Action::SetVlanVid(vid) => {
            let start = w.len();
            w.u16(OFPAT_SET_FIELD).u16(0);
            oxm::write_vlan_vid(w, *vid);
            w.pad8_from(start);
            w.set_u16(start + 2, len16(w.len() - start));
        }
        Action::PushVlan => {
            w.u16(OFPAT_PUSH_VLAN).u16(8).u16(ETH_TYPE_8021Q).zeros(2);
        }
        Action::PopVlan => {
            w.u16(OFPAT_POP_VLAN).u16(8).zeros(4);
        }
        Action::OutputReg(field) => {
            let nbits = u16::from(field.end - field.start) + 1;
            w.u16(OFPAT_EXPERIMENTER)
                .u16(24)
                .u32(NX_VENDOR_ID)
                .u16(NXAST_OUTPUT_REG)
                .u16((u16::from(field.start) << 6) | (nbits - 1))
                .u32(OxmHeader::register(field.reg).to_u32())
                .u16(0)
                .zeros(6);
        }
        // Not actions on the wire: see `write_instructions`.
        Action::GotoTable(_) | Action::Drop => {}
    }
}

/// Instructions read back: the actions in the pipeline's terms, or why
/// they cannot be represented.
pub type ReadActions = Result<Vec<Action>, String>;

/// Reads instructions to the end of `r`.
///
/// # Errors
/// [`DecodeError::Malformed`] when an instruction or action is cut short;
/// an instruction or action the pipeline never makes is not an error but
/// an `Err` inside the result.
pub fn read_instructions(r: &mut Reader<'_>) -> Result<ReadActions, DecodeError> {
    let mut actions = Vec::new();
    let mut goto = None;
    let mut seen = Vec::new();
    let mut unknown = None;
    while r.remaining() > 0 {
        let kind = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 4 {
            return Err(DecodeError::malformed("instruction", format!("length {len}")));
        }
        let mut body = r.sub(len - 4, "instruction")?;
        // OpenFlow allows each instruction type once per flow (OVS refuses
        // a second with OFPBIC_DUP_INST); the model, one list with at most
        // one goto_table, has no place for a second.
        if seen.contains(&kind) {
            unknown = Some(format!("instruction type {kind} twice"));
            continue;
        }
        seen.push(kind);
        match kind {
            OFPIT_GOTO_TABLE => match table_from_id(body.u8()?) {
                Some(table) => goto = Some(Action::GotoTable(table)),
                None => unknown = Some("goto_table to a table outside the pipeline".to_owned()),
            },
            OFPIT_APPLY_ACTIONS => {
                body.skip(4)?;
                while body.remaining() > 0 {
                    match read_action(&mut body)? {
                        Ok(action) => actions.push(action),
                        Err(why) => unknown = Some(why),
                    }
                }
            }
            other => unknown = Some(format!("instruction type {other}")),
        }
    }
    // A switch runs apply-actions before goto_table whatever their order
    // on the wire, and the model lists them in that order.
    actions.extend(goto);
    Ok(match unknown {
        Some(why) => Err(why),
        None if actions.is_empty() => Ok(vec![Action::Drop]),
        None => Ok(actions),
    })
}

/// The pipeline table with this OpenFlow id.
pub fn table_from_id(id: u8) -> Option<Table> {
    Table::ALL.into_iter().find(|t| t.id() == id)
}

fn read_action(r: &mut Reader<'_>) -> Result<Result<Action, String>, DecodeError> {
    let kind = r.u16()?;
    let len = usize::from(r.u16()?);
    if len < 8 {
        return Err(DecodeError::malformed("action", format!("length {len}")));
    }
    let mut body = r.sub(len - 4, "action")?;
    Ok(match kind {
        OFPAT_OUTPUT => match body.u32()? {
            OFPP_NORMAL => Ok(Action::Normal),
            port => Err(format!("output to port {port}")),
        },
        OFPAT_SET_FIELD => match oxm::read_field(&mut body)?.as_slice() {
            [Field::Known(Match::Reg(field, value))] => Ok(Action::SetField(*field, *value)),
            [Field::Known(Match::Vlan(VlanMatch::Id(vid)))] => Ok(Action::SetVlanVid(*vid)),
            other => Err(format!("set_field of {other:?}")),
        },
        OFPAT_PUSH_VLAN => match body.u16()? {
            ETH_TYPE_8021Q => Ok(Action::PushVlan),
            other => Err(format!("push_vlan:{other:#x}")),
        },
        OFPAT_POP_VLAN => Ok(Action::PopVlan),
        OFPAT_EXPERIMENTER => {
            let vendor = body.u32()?;
            let subtype = body.u16()?;
            if vendor != NX_VENDOR_ID || subtype != NXAST_OUTPUT_REG {
                return Ok(Err(format!("experimenter action {vendor:#x}/{subtype}")));
            }
            let ofs_nbits = body.u16()?;
            let source = OxmHeader::from_u32(body.u32()?);
            let (start, nbits) = ((ofs_nbits >> 6) as u8, (ofs_nbits & 0x3f) as u8 + 1);
            if source != OxmHeader::register(source.field)
                || source.field > 15
                || u16::from(start) + u16::from(nbits) > 32
            {
                return Ok(Err(format!("output from {source:?}")));
            }
            Ok(Action::OutputReg(RegField { reg: source.field, start, end: start + nbits - 1 }))
        }
        other => Err(format!("action type {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{OUTPUT_FOUND, OUTPUT_PORT, PACKET_SOURCE, TC_ACTION, TC_TARGET};

    fn round_trip(actions: Vec<Action>) -> ReadActions {
        let mut w = Writer::new();
        write_instructions(&mut w, &actions);
        let bytes = w.finish();
        read_instructions(&mut Reader::new(&bytes, "test")).unwrap()
    }

    #[test]
    fn every_action_the_pipeline_makes_round_trips() {
        for actions in [
            vec![Action::SetField(PACKET_SOURCE, 6), Action::GotoTable(Table::L2ForwardingCalc)],
            vec![
                Action::SetField(OUTPUT_PORT, 5),
                Action::SetField(OUTPUT_FOUND, 1),
                Action::GotoTable(Table::TrafficControl),
            ],
            vec![
                Action::SetField(TC_TARGET, 7),
                Action::SetField(TC_ACTION, 2),
                Action::GotoTable(Table::Output),
            ],
            vec![Action::OutputReg(OUTPUT_PORT), Action::OutputReg(TC_TARGET)],
            vec![Action::OutputReg(TC_TARGET), Action::Normal],
            vec![Action::Normal],
            vec![
                Action::OutputReg(OUTPUT_PORT),
                Action::PushVlan,
                Action::SetVlanVid(20),
                Action::OutputReg(TC_TARGET),
                Action::PopVlan,
                Action::Normal,
            ],
            vec![Action::GotoTable(Table::Output)],
            vec![Action::Drop],
        ] {
            assert_eq!(round_trip(actions.clone()), Ok(actions));
        }
    }

    #[test]
    fn vlan_actions_are_laid_out_as_ovs_sends_them() {
        // push_vlan:0x8100,set_field:4106->vlan_vid,pop_vlan, from
        // `ovs-ofctl -O OpenFlow15 parse-flows`.
        let mut w = Writer::new();
        for action in [Action::PushVlan, Action::SetVlanVid(10), Action::PopVlan] {
            write_action(&mut w, &action);
        }
        let expected: [u8; 32] = [
            0x00, 0x11, 0x00, 0x08, 0x81, 0x00, 0x00, 0x00, // push_vlan
            0x00, 0x19, 0x00, 0x10, 0x80, 0x00, 0x0c, 0x02, 0x10, 0x0a, 0, 0, 0, 0, 0, 0, // set_field
            0x00, 0x12, 0x00, 0x08, 0, 0, 0, 0, // pop_vlan
        ];
        assert_eq!(w.finish(), expected);
    }

    #[test]
    fn drop_is_no_instruction() {
        let mut w = Writer::new();
        write_instructions(&mut w, &[Action::Drop]);
        assert!(w.is_empty());
    }

    #[test]
    fn foreign_actions_are_reported_not_misread() {
        // output:5 (an explicit port) is not something the pipeline makes.
        let bytes = [0, 4, 0, 24, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(read_instructions(&mut Reader::new(&bytes, "t")).unwrap(), Err("output to port 5".into()));
    }

    /// goto_table:1 (L2ForwardingCalc) and apply-actions with output:NORMAL, as instructions.
    const GOTO_L2_FORWARDING: [u8; 8] = [0, 1, 0, 8, 1, 0, 0, 0];
    const APPLY_NORMAL: [u8; 24] =
        [0, 4, 0, 24, 0, 0, 0, 0, 0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfa, 0, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn goto_table_is_last_whatever_its_place_on_the_wire() {
        let bytes = [&GOTO_L2_FORWARDING[..], &APPLY_NORMAL[..]].concat();
        let read = read_instructions(&mut Reader::new(&bytes, "t")).unwrap();
        assert_eq!(read, Ok(vec![Action::Normal, Action::GotoTable(Table::L2ForwardingCalc)]));
        assert_eq!(
            round_trip(read.unwrap()),
            Ok(vec![Action::Normal, Action::GotoTable(Table::L2ForwardingCalc)])
        );
    }

    /// Found by the `openflow_message` fuzz target: a flow with two
    /// goto_table instructions read as two gotos, which encode as one.
    #[test]
    fn a_repeated_instruction_is_reported_not_misread() {
        for twice in [
            [&GOTO_L2_FORWARDING[..], &GOTO_L2_FORWARDING[..]].concat(),
            [&APPLY_NORMAL[..], &APPLY_NORMAL[..]].concat(),
        ] {
            let read = read_instructions(&mut Reader::new(&twice, "t")).unwrap();
            assert!(read.as_ref().is_err_and(|why| why.ends_with("twice")), "{read:?}");
        }
    }

    #[test]
    fn truncated_actions_are_malformed() {
        let bytes = [0, 4, 0, 24, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0];
        assert!(read_instructions(&mut Reader::new(&bytes, "t")).is_err());
    }
}
