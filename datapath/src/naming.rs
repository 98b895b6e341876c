//! Port names, derived from what the port is rather than stored, so that a
//! restarted agent (or one replacing Antrea's) recognizes its own ports.
//!
//! Internal ports and devices are named by the user. Tunnel ports are named
//! `<kind>-<first 6 hex digits of SHA-1(parameters)>`, byte-compatible with
//! Antrea: the remote IP as 16 bytes (IPv4 in its IPv4-mapped IPv6 form),
//! then each parameter as a big-endian 32-bit integer, defaults filled in.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

use crate::api::{ErspanTunnel, GreTunnel, Port, UdpTunnel};

/// The default VXLAN UDP port.
pub const VXLAN_DEFAULT_PORT: u16 = 4789;
/// The default GENEVE UDP port.
pub const GENEVE_DEFAULT_PORT: u16 = 6081;
/// Linux's limit on interface names (`IFNAMSIZ` less the terminating NUL).
pub const INTERFACE_NAME_MAX: usize = 15;

/// The name of the OVS port that realizes `port`.
pub fn port_name(port: &Port) -> String {
    match port {
        Port::OvsInternal(named) | Port::Device(named) => named.name.clone(),
        Port::Vxlan(tunnel) => udp_tunnel_name("vxlan", tunnel, VXLAN_DEFAULT_PORT),
        Port::Geneve(tunnel) => udp_tunnel_name("geneve", tunnel, GENEVE_DEFAULT_PORT),
        Port::Gre(tunnel) => gre_name(tunnel),
        Port::Erspan(tunnel) => erspan_name(tunnel),
    }
}

fn udp_tunnel_name(prefix: &str, tunnel: &UdpTunnel, default_port: u16) -> String {
    let port = u32::from(tunnel.destination_port.unwrap_or(default_port));
    hashed_name(prefix, tunnel.remote_ip, &[port, tunnel.vni.unwrap_or(0)])
}

fn gre_name(tunnel: &GreTunnel) -> String {
    hashed_name("gre", tunnel.remote_ip, &[tunnel.key.unwrap_or(0)])
}

fn erspan_name(tunnel: &ErspanTunnel) -> String {
    let parameters = [
        u32::from(tunnel.session_id.unwrap_or(0)),
        u32::from(tunnel.version),
        tunnel.index.unwrap_or(0),
        u32::from(tunnel.dir.unwrap_or(0)),
        u32::from(tunnel.hardware_id.unwrap_or(0)),
    ];
    hashed_name("erspan", tunnel.remote_ip, &parameters)
}

fn hashed_name(prefix: &str, remote_ip: IpAddr, parameters: &[u32]) -> String {
    let ip16 = match remote_ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let mut hasher = Sha1::new();
    hasher.update(ip16);
    for parameter in parameters {
        // Antrea writes int32s; their big-endian bytes equal the u32's.
        hasher.update(parameter.to_be_bytes());
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

/// Checks that Linux would accept `name` as an interface name
/// (`dev_valid_name`): 1 to 15 bytes, not `.` or `..`, no `/`, `:` or
/// whitespace.
///
/// # Errors
/// The rule the name breaks, phrased for a user.
pub fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > INTERFACE_NAME_MAX {
        return Err(format!(
            "{name:?} is {} bytes long, Linux allows at most {INTERFACE_NAME_MAX}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid interface name"));
    }
    if let Some(bad) = name.chars().find(|c| *c == '/' || *c == ':' || c.is_whitespace()) {
        return Err(format!("{name:?} contains {bad:?}, which Linux refuses in interface names"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::NamedPort;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn udp(remote: &str, port: Option<u16>, vni: Option<u32>) -> UdpTunnel {
        UdpTunnel { remote_ip: ip(remote), destination_port: port, vni }
    }

    fn erspan(
        remote: &str,
        session: Option<u16>,
        version: u8,
        index: Option<u32>,
        dir: Option<u8>,
        hw: Option<u8>,
    ) -> Port {
        Port::Erspan(ErspanTunnel {
            remote_ip: ip(remote),
            session_id: session,
            version,
            index,
            dir,
            hardware_id: hw,
        })
    }

    // Vectors computed independently (Python hashlib over the byte layout
    // Antrea's genTunnelPortName writes), not by this code.
    #[test]
    fn tunnel_names_match_antrea_test_vectors() {
        let cases = [
            (Port::Vxlan(udp("1.1.1.1", None, None)), "vxlan-cb3ab8"),
            (Port::Vxlan(udp("1.1.1.1", Some(1234), Some(1))), "vxlan-6d2569"),
            (Port::Geneve(udp("1.1.1.1", None, None)), "geneve-e17764"),
            (Port::Gre(GreTunnel { remote_ip: ip("1.1.1.1"), key: Some(2222) }), "gre-731a09"),
            (erspan("1.1.1.1", None, 2, None, Some(1), Some(1)), "erspan-304f63"),
            (Port::Vxlan(udp("10.0.10.2", None, None)), "vxlan-a84093"),
            (Port::Geneve(udp("10.0.10.2", None, None)), "geneve-99a006"),
            (Port::Gre(GreTunnel { remote_ip: ip("10.0.10.2"), key: Some(u32::MAX) }), "gre-72cddc"),
            (Port::Vxlan(udp("fd00:10::2", None, Some(16_777_215))), "vxlan-6c1c09"),
            (erspan("10.0.10.2", Some(1), 1, Some(1), None, None), "erspan-fde71b"),
            (erspan("10.0.10.2", Some(1), 2, None, Some(0), Some(4)), "erspan-372ab3"),
        ];
        for (port, expected) in cases {
            assert_eq!(port_name(&port), expected, "{port:?}");
        }
    }

    #[test]
    fn explicit_defaults_name_the_same_port_as_absent_ones() {
        assert_eq!(
            port_name(&Port::Vxlan(udp("10.0.10.2", None, None))),
            port_name(&Port::Vxlan(udp("10.0.10.2", Some(4789), Some(0))))
        );
        assert_eq!(
            port_name(&Port::Geneve(udp("10.0.10.2", None, None))),
            port_name(&Port::Geneve(udp("10.0.10.2", Some(6081), Some(0))))
        );
    }

    #[test]
    fn an_ipv4_address_and_its_mapped_ipv6_form_name_the_same_port() {
        assert_eq!(
            port_name(&Port::Gre(GreTunnel { remote_ip: ip("10.0.10.2"), key: None })),
            port_name(&Port::Gre(GreTunnel { remote_ip: ip("::ffff:10.0.10.2"), key: None }))
        );
    }

    #[test]
    fn named_ports_keep_the_users_name_and_fit_linux() {
        let name = port_name(&Port::OvsInternal(NamedPort { name: "tap0".into() }));
        assert_eq!(name, "tap0");
        // The longest derived name is "geneve-" + 6 = 13 bytes.
        assert!(port_name(&Port::Geneve(udp("fd00::1", None, None))).len() <= INTERFACE_NAME_MAX);
    }

    #[test]
    fn interface_names_linux_refuses_are_refused() {
        assert!(check_interface_name("tap0").is_ok());
        assert!(check_interface_name("a23456789012345").is_ok());
        for bad in ["", "a234567890123456", ".", "..", "a/b", "a:b", "a b", "tab\tx", "nl\n"] {
            assert!(check_interface_name(bad).is_err(), "{bad:?}");
        }
    }
}
