//! `OFPT_FLOW_MOD` (OpenFlow 1.5): add, modify-strict and delete (strict,
//! or every flow whose cookie matches under a mask).

use super::DecodeError;
use super::actions::{self, ReadActions};
use super::oxm::{self, Field};
use super::wire::{Reader, Writer};
use crate::flows::{Action, Cookie, Flow, Match, Table};

/// Any port or group (no filter).
pub const OFPP_ANY: u32 = 0xffff_ffff;
/// Every table.
pub const OFPTT_ALL: u8 = 0xff;
const OFP_NO_BUFFER: u32 = 0xffff_ffff;

/// What a flow_mod does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Add (or replace) a flow.
    Add = 0,
    /// Change the actions of the flow with exactly this priority and match.
    ModifyStrict = 2,
    /// Delete every flow that matches loosely (used with a cookie mask).
    Delete = 3,
    /// Delete the flow with exactly this priority and match.
    DeleteStrict = 4,
}

/// The match of a flow_mod: fields we model, or raw OXM bytes read from the
/// switch (to delete a flow we cannot represent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchSpec {
    /// Match fields in the pipeline's terms.
    Fields(Vec<Match>),
    /// OXM TLVs as the switch reported them.
    Raw(Vec<u8>),
}

/// A flow_mod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMod {
    /// What to do.
    pub command: Command,
    /// The cookie to set (add) or to match (delete, under `cookie_mask`).
    pub cookie: u64,
    /// Which cookie bits a modify or delete must match.
    pub cookie_mask: u64,
    /// The table (`OFPTT_ALL` for a loose delete).
    pub table_id: u8,
    /// The priority.
    pub priority: u16,
    /// The match.
    pub matches: MatchSpec,
    /// The actions (add and modify only).
    pub actions: Vec<Action>,
}

impl FlowMod {
    /// Adds `flow`.
    pub fn add(flow: &Flow) -> Self {
        FlowMod {
            command: Command::Add,
            cookie: flow.cookie.0,
            cookie_mask: 0,
            table_id: flow.table.id(),
            priority: flow.priority,
            matches: MatchSpec::Fields(flow.matches.clone()),
            actions: flow.actions.clone(),
        }
    }

    /// Gives the flow with `flow`'s table, priority and match `flow`'s
    /// actions. Not its cookie: since OpenFlow 1.2 a modify's cookie only
    /// selects flows (under `cookie_mask`, here none), and OVS keeps the
    /// flow's own; an add of the same identity replaces the cookie too.
    pub fn modify_strict(flow: &Flow) -> Self {
        FlowMod { command: Command::ModifyStrict, ..FlowMod::add(flow) }
    }

    /// Deletes the flow with exactly this table, priority and match.
    pub fn delete_strict(table_id: u8, priority: u16, matches: MatchSpec) -> Self {
        FlowMod {
            command: Command::DeleteStrict,
            cookie: 0,
            cookie_mask: 0,
            table_id,
            priority,
            matches,
            actions: Vec::new(),
        }
    }

    /// Deletes every flow, in every table, whose cookie equals `cookie`
    /// under `mask`.
    pub fn delete_by_cookie(cookie: u64, mask: u64) -> Self {
        FlowMod {
            command: Command::Delete,
            cookie,
            cookie_mask: mask,
            table_id: OFPTT_ALL,
            priority: 0,
            matches: MatchSpec::Fields(Vec::new()),
            actions: Vec::new(),
        }
    }

    /// The body (after the header).
    pub fn write(&self, w: &mut Writer) {
        w.u64(self.cookie)
            .u64(self.cookie_mask)
            .u8(self.table_id)
            .u8(self.command as u8)
            .u16(0) // idle timeout
            .u16(0) // hard timeout
            .u16(self.priority)
            .u32(OFP_NO_BUFFER)
            .u32(OFPP_ANY)
            .u32(OFPP_ANY)
            .u16(0) // flags
            .u16(0); // importance
        match &self.matches {
            MatchSpec::Fields(fields) => oxm::write_match(w, fields),
            MatchSpec::Raw(raw) => {
                let start = w.len();
                w.u16(1).u16(super::wire::len16(raw.len() + 4)).bytes(raw);
                w.pad8_from(start);
            }
        }
        if matches!(self.command, Command::Add | Command::ModifyStrict) {
            actions::write_instructions(w, &self.actions);
        }
    }

    /// Reads a flow_mod body.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when it is cut short or has an unknown
    /// command.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        ReceivedFlowMod::read(r).map(|received| received.flow_mod)
    }

    /// The flow this adds or modifies, when it is one the pipeline models.
    pub fn flow(&self) -> Option<Flow> {
        let MatchSpec::Fields(matches) = &self.matches else { return None };
        let table = actions::table_from_id(self.table_id)?;
        Some(Flow::new(Cookie(self.cookie), table, self.priority, matches.clone(), self.actions.clone()))
    }
}

/// A flow_mod as a switch receives it: the decoded [`FlowMod`], plus the
/// wire bytes a switch keeps so that a flow it cannot represent is dumped
/// back exactly as it came (the agent must be able to see and delete it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedFlowMod {
    /// The flow_mod; actions the pipeline never makes read as none.
    pub flow_mod: FlowMod,
    /// The match's OXM TLVs (no `ofp_match` header, no padding).
    pub raw_match: Vec<u8>,
    /// The instructions, as sent.
    pub raw_instructions: Vec<u8>,
    /// The instructions in the pipeline's terms, or why they are not.
    pub actions: ReadActions,
}

impl ReceivedFlowMod {
    /// Reads a flow_mod body.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when it is cut short or has an unknown
    /// command.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let cookie = r.u64()?;
        let cookie_mask = r.u64()?;
        let table_id = r.u8()?;
        let command = match r.u8()? {
            0 => Command::Add,
            2 => Command::ModifyStrict,
            3 => Command::Delete,
            4 => Command::DeleteStrict,
            other => return Err(DecodeError::malformed("flow_mod", format!("command {other}"))),
        };
        r.skip(4)?; // timeouts
        let priority = r.u16()?;
        r.skip(16)?; // buffer, out_port, out_group, flags, importance
        let (fields, raw_match) = oxm::read_match(r)?;
        let matches =
            known_fields(fields).map_or_else(|| MatchSpec::Raw(raw_match.clone()), MatchSpec::Fields);
        let raw_instructions = r.rest();
        let actions = actions::read_instructions(&mut Reader::new(raw_instructions, "instructions"))?;
        let flow_mod = FlowMod {
            command,
            cookie,
            cookie_mask,
            table_id,
            priority,
            matches,
            // A delete carries no instructions: none is not a drop (which
            // is what no instructions mean in a flow that has actions).
            actions: match command {
                Command::Add | Command::ModifyStrict => actions.clone().unwrap_or_default(),
                Command::Delete | Command::DeleteStrict => Vec::new(),
            },
        };
        Ok(ReceivedFlowMod { flow_mod, raw_match, raw_instructions: raw_instructions.to_vec(), actions })
    }
}

/// The fields, if every one is a field the pipeline uses.
pub fn known_fields(fields: Vec<Field>) -> Option<Vec<Match>> {
    fields.into_iter().map(|f| if let Field::Known(m) = f { Some(m) } else { None }).collect()
}

/// One flow of a flow stats reply, written from the bytes a switch holds:
/// its match TLVs and instructions go out exactly as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStatsEntry {
    /// Its table id.
    pub table_id: u8,
    /// Its priority.
    pub priority: u16,
    /// Its cookie.
    pub cookie: u64,
    /// The OXM TLVs of its match (no `ofp_match` header, no padding).
    pub raw_match: Vec<u8>,
    /// Its instructions.
    pub raw_instructions: Vec<u8>,
}

impl FlowStatsEntry {
    /// Writes one `ofp_flow_desc` (OpenFlow 1.5) with no statistics.
    pub fn write(&self, w: &mut Writer) {
        let start = w.len();
        w.u16(0).zeros(2).u8(self.table_id).u8(0).u16(self.priority).zeros(8).u64(self.cookie);
        let match_start = w.len();
        w.u16(1).u16(super::wire::len16(self.raw_match.len() + 4)).bytes(&self.raw_match);
        w.pad8_from(match_start);
        w.u16(0).u16(4).zeros(4); // ofp_stats with no OXS fields
        w.bytes(&self.raw_instructions);
        let len = super::wire::len16(w.len() - start);
        w.set_u16(start, len);
    }
}

/// A flow as the switch describes it in a flow stats reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowDesc {
    /// Its table id.
    pub table_id: u8,
    /// Its priority.
    pub priority: u16,
    /// Its cookie.
    pub cookie: u64,
    /// Its match fields.
    pub fields: Vec<Field>,
    /// The raw OXM bytes of its match.
    pub raw_match: Vec<u8>,
    /// Its actions, or why they cannot be represented.
    pub actions: ReadActions,
}

impl FlowDesc {
    /// What a dump of the switch shows of `flow` once installed: the
    /// observation a pass starts from after reading the flows back.
    pub fn of(flow: &Flow) -> Self {
        let mut w = Writer::new();
        flow.matches.iter().for_each(|m| oxm::write_match_field(&mut w, m));
        FlowDesc {
            table_id: flow.table.id(),
            priority: flow.priority,
            cookie: flow.cookie.0,
            fields: flow.matches.iter().cloned().map(Field::Known).collect(),
            raw_match: w.finish(),
            actions: Ok(flow.actions.clone()),
        }
    }

    /// The flow in the agent's model, when it fits it (a table, matches
    /// and actions this agent writes).
    pub fn to_flow(&self) -> Option<Flow> {
        let table = actions::table_from_id(self.table_id)?;
        let matches = known_fields(self.fields.clone())?;
        let actions = self.actions.clone().ok()?;
        Some(Flow::new(Cookie(self.cookie), table, self.priority, matches, actions))
    }

    /// Reads one `ofp_flow_desc` (OpenFlow 1.5).
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when it is cut short.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = usize::from(r.u16()?);
        if len < 24 {
            return Err(DecodeError::malformed("flow desc", format!("length {len}")));
        }
        let mut entry = r.sub(len - 2, "flow desc")?;
        entry.skip(2)?;
        let table_id = entry.u8()?;
        entry.skip(1)?;
        let priority = entry.u16()?;
        entry.skip(8)?; // timeouts, flags, importance
        let cookie = entry.u64()?;
        let (fields, raw_match) = oxm::read_match(&mut entry)?;
        // ofp_stats: reserved, length (without padding), OXS fields, padding.
        entry.skip(2)?;
        let stats_len = usize::from(entry.u16()?);
        if stats_len < 4 {
            return Err(DecodeError::malformed("flow stats", format!("length {stats_len}")));
        }
        entry.skip(stats_len.next_multiple_of(8) - 4)?;
        let actions = actions::read_instructions(&mut entry)?;
        Ok(FlowDesc { table_id, priority, cookie, fields, raw_match, actions })
    }

    /// The flow in the pipeline's terms, when it is one the pipeline makes.
    pub fn flow(&self) -> Option<Flow> {
        let table: Table = actions::table_from_id(self.table_id)?;
        let matches = known_fields(self.fields.clone())?;
        let actions = self.actions.clone().ok()?;
        Some(Flow::new(Cookie(self.cookie), table, self.priority, matches, actions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{OUTPUT_PORT, PACKET_SOURCE, TC_TARGET};
    use crate::openflow::message::{self, Message, MultipartBody, VERSION_1_5};

    fn pipeline_flow() -> Flow {
        Flow::new(
            Cookie::pipeline(),
            Table::Classifier,
            190,
            vec![Match::InPort(4), Match::Reg(OUTPUT_PORT, 3)],
            vec![Action::SetField(PACKET_SOURCE, 3), Action::GotoTable(Table::L2ForwardingCalc)],
        )
    }

    fn body_of(flow_mod: &FlowMod) -> Vec<u8> {
        let mut w = Writer::new();
        flow_mod.write(&mut w);
        w.finish()
    }

    #[test]
    fn a_received_flow_mod_keeps_its_match_and_instructions_as_sent() {
        let sent = FlowMod::add(&pipeline_flow());
        let body = body_of(&sent);
        let received = ReceivedFlowMod::read(&mut Reader::new(&body, "test")).unwrap();
        assert_eq!(received.flow_mod, sent);
        assert_eq!(FlowMod::read(&mut Reader::new(&body, "test")).unwrap(), sent);
        assert_eq!(received.actions, Ok(sent.actions.clone()));
        let mut instructions = Writer::new();
        actions::write_instructions(&mut instructions, &sent.actions);
        assert_eq!(received.raw_instructions, instructions.finish());
        let mut fields = Writer::new();
        for m in &pipeline_flow().matches {
            oxm::write_match_field(&mut fields, m);
        }
        assert_eq!(received.raw_match, fields.finish());
    }

    #[test]
    fn foreign_instructions_are_kept_as_bytes_and_explained() {
        let mut body = body_of(&FlowMod { actions: Vec::new(), ..FlowMod::add(&pipeline_flow()) });
        // apply_actions(output:5), which the pipeline never makes.
        let output_5 = [0, 4, 0, 24, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&output_5);
        let received = ReceivedFlowMod::read(&mut Reader::new(&body, "test")).unwrap();
        assert_eq!(received.raw_instructions, output_5);
        assert_eq!(received.actions, Err("output to port 5".to_owned()));
        assert_eq!(received.flow_mod.actions, [], "FlowMod::read reads them as none, as before");
    }

    #[test]
    fn a_flow_stats_entry_reads_back_as_the_flow_desc_of_its_bytes() {
        let mut raw_match = Writer::new();
        oxm::write_fields_as_dumped(&mut raw_match, &[Match::InPort(7), Match::Reg(TC_TARGET, 9)]);
        let mut raw_instructions = Writer::new();
        actions::write_instructions(&mut raw_instructions, &[Action::Normal]);
        let entry = FlowStatsEntry {
            table_id: 3,
            priority: 300,
            cookie: 0x7463_0100_0000_0000,
            raw_match: raw_match.finish(),
            raw_instructions: raw_instructions.finish(),
        };
        let bytes = message::encode_flow_stats_reply(9, true, std::slice::from_ref(&entry));
        let frame = message::decode(&bytes).unwrap();
        assert_eq!((frame.version, frame.xid), (VERSION_1_5, 9));
        let Message::MultipartReply { more: true, body: MultipartBody::FlowDesc(descs) } = frame.message
        else {
            panic!("{frame:?}")
        };
        let [desc] = descs.as_slice() else { panic!("{descs:?}") };
        assert_eq!((desc.table_id, desc.priority, desc.cookie), (3, 300, entry.cookie));
        assert_eq!(desc.raw_match, entry.raw_match);
        assert_eq!(
            desc.flow(),
            Some(Flow::new(
                Cookie(entry.cookie),
                Table::Output,
                300,
                vec![Match::InPort(7), Match::Reg(TC_TARGET, 9)],
                vec![Action::Normal]
            ))
        );
    }

    #[test]
    fn a_flow_desc_encodes_as_the_entry_of_its_actions() {
        let flow = pipeline_flow();
        let mut raw_match = Writer::new();
        for m in &flow.matches {
            oxm::write_match_field(&mut raw_match, m);
        }
        let raw_match = raw_match.finish();
        let desc = FlowDesc {
            table_id: 0,
            priority: 190,
            cookie: flow.cookie.0,
            fields: flow.matches.iter().copied().map(oxm::Field::Known).collect(),
            raw_match: raw_match.clone(),
            actions: Ok(flow.actions.clone()),
        };
        let by_desc = message::encode(
            VERSION_1_5,
            4,
            &Message::MultipartReply { more: false, body: MultipartBody::FlowDesc(vec![desc.clone()]) },
        );
        let mut raw_instructions = Writer::new();
        actions::write_instructions(&mut raw_instructions, &flow.actions);
        let entry = FlowStatsEntry {
            table_id: 0,
            priority: 190,
            cookie: flow.cookie.0,
            raw_match,
            raw_instructions: raw_instructions.finish(),
        };
        assert_eq!(by_desc, message::encode_flow_stats_reply(4, false, &[entry]));
        assert_eq!(
            message::decode(&by_desc).unwrap().message,
            Message::MultipartReply { more: false, body: MultipartBody::FlowDesc(vec![desc]) }
        );
    }
}
