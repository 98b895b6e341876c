//! Reading a tunnel port's OVSDB `Interface.options` the way OVS's
//! `set_tunnel_config` (lib/netdev-vport.c) reads them, so the simulator
//! builds the header the real switch would from the same row. Where OVS
//! would silently misread a value (`atoi` on `0x10`, a VNI above 24 bits)
//! this refuses it instead, naming the option and the value.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use super::{GENEVE_PORT, TunnelHeader, VXLAN_PORT};

/// Why options do not describe a tunnel header.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// The interface type is not one of the tunnels built here.
    #[error("interface type {0:?} is not a tunnel the simulator builds (vxlan, geneve, gre, erspan)")]
    UnknownType(String),
    /// An option OVS needs to build the header is absent.
    #[error("option {option} is missing")]
    Missing {
        /// The option's key.
        option: &'static str,
    },
    /// A value that does not read as OVS reads it, or is out of range.
    #[error("option {option}={value:?}: {rule}")]
    Invalid {
        /// The option's key.
        option: &'static str,
        /// The value as written.
        value: String,
        /// What the value must be.
        rule: &'static str,
    },
}

/// How OVS parses an option's number.
#[derive(Clone, Copy)]
enum Base {
    /// `atoi`: decimal digits only (`dst_port`, `erspan_ver`, `erspan_dir`).
    Decimal,
    /// `strtol(…, 16)`: hex with or without `0x`, so `26` means 0x26
    /// (`erspan_idx`, `erspan_hwid`).
    Hex,
    /// `strtoull(…, 0)`: `0x` hex, a leading `0` octal, else decimal (`key`).
    Any,
}

/// The tunnel header a port of `interface_type` with `options` builds.
/// Missing `dst_port` is the type's IANA port, missing `key` is VNI 0 (or
/// session 0 for ERSPAN, or no GRE key), missing `erspan_idx`,
/// `erspan_dir` and `erspan_hwid` are 0, as in OVS. Other options
/// (`remote_ip` included) are not read here.
///
/// # Errors
/// [`OptionsError`] for an unknown type, a missing `erspan_ver`, or a
/// value OVS would reject or misread.
pub fn header_from_options(
    interface_type: &str,
    options: &BTreeMap<String, String>,
) -> Result<TunnelHeader, OptionsError> {
    let read = |option: &'static str, base: Base, range: RangeInclusive<u64>, rule: &'static str| {
        options.get(option).map(|value| number(option, value, base, range, rule)).transpose()
    };
    match interface_type {
        "vxlan" | "geneve" => {
            let vni = read("key", Base::Any, 0..=0xff_ffff, "must be at most 16777215 (a 24-bit VNI)")?;
            let vni = narrow(vni.unwrap_or(0));
            let port = read("dst_port", Base::Decimal, 1..=65535, "must be a port, 1 to 65535")?;
            let port = port.map(narrow::<u16>);
            Ok(if interface_type == "vxlan" {
                TunnelHeader::Vxlan { vni, dst_port: port.unwrap_or(VXLAN_PORT) }
            } else {
                TunnelHeader::Geneve { vni, dst_port: port.unwrap_or(GENEVE_PORT) }
            })
        }
        "gre" => {
            let key =
                read("key", Base::Any, 0..=u64::from(u32::MAX), "must be at most 4294967295 (32 bits)")?;
            Ok(TunnelHeader::Gre { key: key.map(narrow) })
        }
        "erspan" => {
            // OVS refuses to build a header for a session ID above 10 bits.
            let session = read("key", Base::Any, 0..=0x3ff, "must be at most 1023 (a 10-bit session ID)")?;
            let session_id = narrow(session.unwrap_or(0));
            let version = options.get("erspan_ver").ok_or(OptionsError::Missing { option: "erspan_ver" })?;
            // The range leaves two versions: 1 is type II, 2 type III.
            if number("erspan_ver", version, Base::Decimal, 1..=2, "must be 1 or 2")? == 1 {
                let index = read("erspan_idx", Base::Hex, 0..=0xf_ffff, "must be at most 0xfffff (20 bits)")?;
                Ok(TunnelHeader::ErspanV1 { session_id, index: narrow(index.unwrap_or(0)) })
            } else {
                let dir = read("erspan_dir", Base::Decimal, 0..=1, "must be 0 (ingress) or 1 (egress)")?;
                let hwid = read("erspan_hwid", Base::Hex, 0..=0x3f, "must be at most 0x3f (6 bits)")?;
                let (dir, hardware_id) = (narrow(dir.unwrap_or(0)), narrow(hwid.unwrap_or(0)));
                Ok(TunnelHeader::ErspanV2 { session_id, dir, hardware_id })
            }
        }
        other => Err(OptionsError::UnknownType(other.to_owned())),
    }
}

/// The port's `remote_ip` option, when it is an address (not `flow`).
pub fn remote_ip(options: &BTreeMap<String, String>) -> Option<IpAddr> {
    options.get("remote_ip")?.parse().ok()
}

fn invalid(option: &'static str, value: &str, rule: &'static str) -> OptionsError {
    OptionsError::Invalid { option, value: value.to_owned(), rule }
}

/// A value already checked against a range that fits `T`.
fn narrow<T: TryFrom<u64> + Default>(value: u64) -> T {
    T::try_from(value).unwrap_or_default()
}

/// `value` read in `base`, within `range` (`range_rule` says so otherwise).
fn number(
    option: &'static str,
    value: &str,
    base: Base,
    range: RangeInclusive<u64>,
    range_rule: &'static str,
) -> Result<u64, OptionsError> {
    let hex = value.strip_prefix("0x").or_else(|| value.strip_prefix("0X"));
    let (digits, radix, rule) = match base {
        Base::Decimal => (value, 10, "must be a decimal number (OVS reads it with atoi)"),
        Base::Hex => (hex.unwrap_or(value), 16, "must be a hex number, 0x optional (OVS reads it as hex)"),
        Base::Any => match hex {
            Some(digits) => (digits, 16, "must be a number: decimal, 0x hex or 0-prefixed octal"),
            None if value.len() > 1 && value.starts_with('0') => {
                (&value[1..], 8, "must be a number: decimal, 0x hex or 0-prefixed octal")
            }
            None => (value, 10, "must be a number: decimal, 0x hex or 0-prefixed octal"),
        },
    };
    // from_str_radix accepts a sign; OVS's readers would not mean one here.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(invalid(option, value, rule));
    }
    match u64::from_str_radix(digits, radix) {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(invalid(option, value, range_rule)),
    }
}
