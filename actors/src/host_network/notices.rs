//! Which of the kernel's netlink notices can change what the guard rails
//! read: an address that is not IPv6 link-local (those are left out of the
//! reading), a default route, and any change to a device the last reading
//! named (an address, a default route: renamed, deleted, moved away).
//! A new Pod's veth, its IPv6 link-local address and its routes matter
//! not, so the Pods that come and go do not make every pass read again.
//! Anything unreadable matters.

use std::collections::BTreeSet;

const HEADER: usize = 16;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const AF_INET6: u8 = 10;
const RT_SCOPE_LINK: u8 = 253;

/// Whether any notice of `datagram` matters, given the interface indexes
/// of the devices the last reading named (`known`).
pub(super) fn matters(datagram: &[u8], known: &BTreeSet<u32>) -> bool {
    let mut rest = datagram;
    while !rest.is_empty() {
        let Some(length) = rest.get(..4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
        else {
            return true;
        };
        if length < HEADER || length > rest.len() {
            return true;
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        if notice_matters(kind, &rest[HEADER..length], known) {
            return true;
        }
        rest = rest.get(length.next_multiple_of(4)..).unwrap_or_default();
    }
    false
}

fn notice_matters(kind: u16, body: &[u8], known: &BTreeSet<u32>) -> bool {
    let index_at =
        |offset: usize| body.get(offset..offset + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match kind {
        // ifinfomsg: family, pad, type (2), index (4), ...
        RTM_NEWLINK | RTM_DELLINK => index_at(4).is_none_or(|index| known.contains(&index)),
        // ifaddrmsg: family, prefix length, flags, scope, index (4)
        RTM_NEWADDR | RTM_DELADDR => {
            !matches!((body.first(), body.get(3)), (Some(&AF_INET6), Some(&RT_SCOPE_LINK)))
        }
        // rtmsg: family, destination length, ...
        RTM_NEWROUTE | RTM_DELROUTE => body.get(1).is_none_or(|&length| length == 0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(kind: u16, body: &[u8]) -> Vec<u8> {
        let length = u32::try_from(HEADER + body.len()).unwrap_or(u32::MAX);
        let mut bytes = length.to_ne_bytes().to_vec();
        bytes.extend(kind.to_ne_bytes());
        bytes.extend([0; 10]);
        bytes.extend(body);
        while bytes.len() % 4 != 0 {
            bytes.push(0);
        }
        bytes
    }

    fn link(kind: u16, index: u32) -> Vec<u8> {
        let mut body = vec![0, 0, 1, 0];
        body.extend(index.to_ne_bytes());
        body.extend([0; 8]);
        notice(kind, &body)
    }

    fn address(family: u8, scope: u8) -> Vec<u8> {
        notice(RTM_NEWADDR, &[family, 64, 0, scope, 9, 0, 0, 0])
    }

    fn route(destination_length: u8) -> Vec<u8> {
        notice(RTM_NEWROUTE, &[AF_INET6, destination_length, 0, 0, 254, 2, 0, 1, 0, 0, 0, 0])
    }

    #[test]
    fn a_new_pods_veth_its_link_local_address_and_routes_do_not_matter() {
        let known = BTreeSet::from([2]);
        let pod = [link(RTM_NEWLINK, 9), address(AF_INET6, RT_SCOPE_LINK), route(64), link(RTM_DELLINK, 9)]
            .concat();
        assert!(!matters(&pod, &known));
    }

    #[test]
    fn addresses_default_routes_and_known_devices_matter() {
        let known = BTreeSet::from([2]);
        assert!(matters(&address(2, 0), &known), "an IPv4 address");
        assert!(matters(&address(AF_INET6, 0), &known), "a global IPv6 address");
        assert!(matters(&route(0), &known), "a default route");
        assert!(matters(&link(RTM_NEWLINK, 2), &known), "a device the guard rails know: renamed?");
        assert!(matters(&link(RTM_DELLINK, 2), &known));
        assert!(matters(&[link(RTM_NEWLINK, 9), route(0)].concat(), &known), "one that matters in a batch");
    }

    #[test]
    fn what_cannot_be_read_matters() {
        let known = BTreeSet::new();
        assert!(matters(&[1, 2, 3], &known));
        let mut cut = address(2, 0);
        cut.truncate(10);
        assert!(matters(&cut, &known));
        assert!(matters(&notice(2, &[0; 4]), &known), "an error message");
        assert!(matters(&notice(RTM_NEWLINK, &[]), &known), "a link notice without its index");
    }
}
