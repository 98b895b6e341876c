//! The switch's OpenFlow ports: what a port desc dump and port status
//! show, and the OpenFlow 1.0 port_mod that sets no-flood and brings a
//! port up or down, with OVS's checks (the port exists, the address is
//! the port's).
//!
//! Only the `PORT_DOWN` and `NO_FLOOD` config bits are modelled; other
//! bits of a port_mod are ignored. OpenFlow 1.5 has no no-flood bit, so a
//! 1.5 port description shows `PORT_DOWN` only, as OVS's does.

use std::collections::BTreeMap;

use datapath::openflow::port::{OFPPC_PORT_DOWN, OFPPC10_NO_FLOOD, OFPPS_LINK_DOWN, PortDesc, PortMod10};

use super::refusal::Refusal;

/// First reserved OpenFlow 1.0 port number (`OFPP_MAX` + 1).
const OFPP10_RESERVED: u16 = 0xff00;

/// A port's config bits the switch models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortConfigBits {
    /// `OFPPC_NO_FLOOD`: NORMAL's floods leave this port out.
    pub no_flood: bool,
    /// `OFPPC_PORT_DOWN`: the port is administratively down.
    pub down: bool,
}

#[derive(Clone, Debug)]
struct Port {
    name: String,
    hw_addr: [u8; 6],
    config: PortConfigBits,
    /// What the port had when it was added: what a restart returns to.
    initial: PortConfigBits,
}

/// The ports by OpenFlow port number.
#[derive(Clone, Debug, Default)]
pub struct PortTable {
    ports: BTreeMap<u32, Port>,
}

impl PortTable {
    /// Adds (or replaces) a port; `true` when it replaced one.
    pub fn add(&mut self, ofport: u32, name: &str, hw_addr: [u8; 6], config: PortConfigBits) -> bool {
        let port = Port { name: name.to_owned(), hw_addr, config, initial: config };
        self.ports.insert(ofport, port).is_some()
    }

    /// Removes a port; its last description, if it existed.
    pub fn remove(&mut self, ofport: u32) -> Option<PortDesc> {
        let desc = self.desc(ofport);
        self.ports.remove(&ofport);
        desc
    }

    /// Every port's config back to what it was added with (what
    /// ovs-vswitchd forgets when it restarts).
    pub fn reset_config(&mut self) {
        for port in self.ports.values_mut() {
            port.config = port.initial;
        }
    }

    /// A port's config.
    pub fn config(&self, ofport: u32) -> Option<PortConfigBits> {
        self.ports.get(&ofport).map(|p| p.config)
    }

    /// A port as OpenFlow 1.5 describes it.
    pub fn desc(&self, ofport: u32) -> Option<PortDesc> {
        let port = self.ports.get(&ofport)?;
        let down = port.config.down;
        Some(PortDesc {
            port_no: ofport,
            hw_addr: port.hw_addr,
            name: port.name.clone(),
            config: if down { OFPPC_PORT_DOWN } else { 0 },
            state: if down { OFPPS_LINK_DOWN } else { 0 },
        })
    }

    /// Every port, in port number order.
    pub fn descs(&self) -> Vec<PortDesc> {
        self.ports.keys().filter_map(|ofport| self.desc(*ofport)).collect()
    }

    /// Applies an OpenFlow 1.0 port_mod; the port's new description when
    /// its config changed.
    ///
    /// # Errors
    /// [`Refusal::BadPort`] when there is no such port,
    /// [`Refusal::BadHwAddr`] when the address is not the port's.
    pub fn port_mod(&mut self, port_mod: &PortMod10) -> Result<Option<PortDesc>, Refusal> {
        if port_mod.port_no >= OFPP10_RESERVED {
            return Err(Refusal::BadPort);
        }
        let ofport = u32::from(port_mod.port_no);
        let port = self.ports.get_mut(&ofport).ok_or(Refusal::BadPort)?;
        if port.hw_addr != port_mod.hw_addr {
            return Err(Refusal::BadHwAddr);
        }
        let before = port.config;
        let bit = |flag: u32, current: bool| {
            if port_mod.mask & flag == 0 { current } else { port_mod.config & flag != 0 }
        };
        port.config = PortConfigBits {
            no_flood: bit(OFPPC10_NO_FLOOD, before.no_flood),
            down: bit(OFPPC_PORT_DOWN, before.down),
        };
        Ok((port.config != before).then(|| self.desc(ofport)).flatten())
    }
}
