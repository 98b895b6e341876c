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
    /// actions and cookie (OVS replaces the cookie on a strict modify).
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
        let (fields, raw) = oxm::read_match(r)?;
        let matches = known_fields(fields).map_or(MatchSpec::Raw(raw), MatchSpec::Fields);
        let actions = actions::read_instructions(r)?.unwrap_or_default();
        Ok(FlowMod { command, cookie, cookie_mask, table_id, priority, matches, actions })
    }

    /// The flow this adds or modifies, when it is one the pipeline models.
    pub fn flow(&self) -> Option<Flow> {
        let MatchSpec::Fields(matches) = &self.matches else { return None };
        let table = actions::table_from_id(self.table_id)?;
        Some(Flow::new(Cookie(self.cookie), table, self.priority, matches.clone(), self.actions.clone()))
    }
}

/// The fields, if every one is a field the pipeline uses.
pub fn known_fields(fields: Vec<Field>) -> Option<Vec<Match>> {
    fields.into_iter().map(|f| if let Field::Known(m) = f { Some(m) } else { None }).collect()
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
