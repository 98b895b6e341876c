//! Ports as the switch describes them (port desc replies, port status), and
//! the OpenFlow 1.0 port_mod that sets no-flood: OpenFlow 1.3+ has no
//! no-flood bit, and OVS silently ignores the request on a 1.5 session.

use super::DecodeError;
use super::wire::{Reader, Writer};

/// OpenFlow 1.0 `OFPPC_NO_FLOOD`.
pub const OFPPC10_NO_FLOOD: u32 = 1 << 4;
/// `OFPPC_PORT_DOWN`.
pub const OFPPC_PORT_DOWN: u32 = 1;
/// `OFPPS_LINK_DOWN`.
pub const OFPPS_LINK_DOWN: u32 = 1;

/// A port of the switch (OpenFlow 1.4+ `ofp_port`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortDesc {
    /// Its OpenFlow port number.
    pub port_no: u32,
    /// Its Ethernet address.
    pub hw_addr: [u8; 6],
    /// Its name.
    pub name: String,
    /// `OFPPC_*` bits.
    pub config: u32,
    /// `OFPPS_*` bits.
    pub state: u32,
}

impl PortDesc {
    /// Reads one `ofp_port` (properties skipped).
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when it is cut short.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = r.u32()?;
        let len = usize::from(r.u16()?);
        if len < 40 {
            return Err(DecodeError::malformed("port", format!("length {len}")));
        }
        let mut port = r.sub(len - 6, "port")?;
        port.skip(2)?;
        let hw_addr = port.mac()?;
        port.skip(2)?;
        let raw_name = port.bytes(16)?;
        let name_len = raw_name.iter().position(|b| *b == 0).unwrap_or(16);
        let name = String::from_utf8_lossy(&raw_name[..name_len]).into_owned();
        let config = port.u32()?;
        let state = port.u32()?;
        Ok(PortDesc { port_no, hw_addr, name, config, state })
    }

    /// Writes it back (no properties); used by tests and the simulated
    /// switch.
    pub fn write(&self, w: &mut Writer) {
        let mut name = [0u8; 16];
        let bytes = self.name.as_bytes();
        let n = bytes.len().min(15);
        name[..n].copy_from_slice(&bytes[..n]);
        w.u32(self.port_no)
            .u16(40)
            .zeros(2)
            .bytes(&self.hw_addr)
            .zeros(2)
            .bytes(&name)
            .u32(self.config)
            .u32(self.state);
    }
}

/// Why a port status was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortReason {
    /// A port was added.
    Add,
    /// A port was deleted.
    Delete,
    /// A port changed.
    Modify,
}

/// An OpenFlow 1.0 port_mod (`ofp_port_mod`, version 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMod10 {
    /// The port (OpenFlow 1.0 numbers are 16 bits).
    pub port_no: u16,
    /// The port's current address, which the switch checks.
    pub hw_addr: [u8; 6],
    /// New values of the bits in `mask`.
    pub config: u32,
    /// Which config bits to change.
    pub mask: u32,
}

impl PortMod10 {
    /// Sets (or clears) no-flood on a port.
    pub fn no_flood(port_no: u16, hw_addr: [u8; 6], on: bool) -> Self {
        PortMod10 { port_no, hw_addr, config: if on { OFPPC10_NO_FLOOD } else { 0 }, mask: OFPPC10_NO_FLOOD }
    }

    /// What every TrafficControl port gets: no-flood (NORMAL never copies a
    /// flood into it) and up (OVS brings an internal port's device up when
    /// `PORT_DOWN` is cleared).
    pub fn traffic_control_port(port_no: u16, hw_addr: [u8; 6]) -> Self {
        PortMod10 { port_no, hw_addr, config: OFPPC10_NO_FLOOD, mask: OFPPC10_NO_FLOOD | OFPPC_PORT_DOWN }
    }

    /// Brings a port up (OVS brings an internal port's device up with it).
    pub fn up(port_no: u16, hw_addr: [u8; 6]) -> Self {
        PortMod10 { port_no, hw_addr, config: 0, mask: OFPPC_PORT_DOWN }
    }

    /// The body (after the header).
    pub fn write(&self, w: &mut Writer) {
        w.u16(self.port_no).bytes(&self.hw_addr).u32(self.config).u32(self.mask).u32(0).zeros(4);
    }

    /// Reads a body.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when it is cut short.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = r.u16()?;
        let hw_addr = r.mac()?;
        let config = r.u32()?;
        let mask = r.u32()?;
        Ok(PortMod10 { port_no, hw_addr, config, mask })
    }
}
