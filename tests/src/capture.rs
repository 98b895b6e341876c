//! Packet capture inside a namespace: `tcpdump -w` while a test sends
//! traffic, then the frames read back from the pcap file; the ICMP echoes
//! in frames, to compare what arrived with what was sent.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::cmd::unique;
use crate::netns::Netns;

/// A running capture.
pub struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    /// Starts capturing what `interface` in `netns` *receives* (for a port
    /// of the switch: what the switch delivers to it; not what the host
    /// sends out of it), with a tcpdump `filter` (may be empty), and
    /// returns once tcpdump listens.
    pub fn inbound(netns: &Netns, interface: &str, filter: &str) -> Capture {
        Capture::start(netns, interface, &["-Q", "in"], filter)
    }

    /// Starts capturing both directions on `interface`.
    pub fn both_ways(netns: &Netns, interface: &str, filter: &str) -> Capture {
        Capture::start(netns, interface, &[], filter)
    }

    fn start(netns: &Netns, interface: &str, options: &[&str], filter: &str) -> Capture {
        let file = std::env::temp_dir().join(format!("{}.pcap", unique("tc-cap-")));
        // Immediate mode: without it libpcap hands packets over in timed
        // blocks, and a capture stopped right after the traffic loses them.
        let mut args = vec![
            "netns",
            "exec",
            netns.name(),
            "tcpdump",
            "--immediate-mode",
            "-i",
            interface,
            "-U",
            "-n",
            "-Z",
            "root",
            "-w",
        ];
        let path = file.to_string_lossy().into_owned();
        args.push(&path);
        args.extend_from_slice(options);
        args.extend(filter.split_whitespace());
        let mut child = Command::new("ip")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("tcpdump: {e} (install it: apt-get install -y tcpdump)"));
        let stderr = child.stderr.take().expect("tcpdump's stderr");
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => break,
                Some(Ok(_)) => {}
                _ => panic!("tcpdump on {interface} in {} did not start", netns.name()),
            }
        }
        Capture { child, file }
    }

    /// Waits until the frames captured so far satisfy `done` (tcpdump
    /// writes each packet as it comes), for at most `timeout`; says
    /// whether they did. A packet sent a moment ago may still be crossing
    /// the userspace datapath when the sender returns.
    pub fn wait_for(&self, timeout: std::time::Duration, done: impl Fn(&[Vec<u8>]) -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let frames = self.frames_so_far();
            if done(&frames) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The frames captured so far, capture still running.
    pub fn frames_so_far(&self) -> Vec<Vec<u8>> {
        read_pcap(&std::fs::read(&self.file).unwrap_or_default())
    }

    /// Stops the capture once nothing new has arrived for a moment, and
    /// returns the frames, in order. A packet whose sender has already
    /// seen the answer can still be crossing the userspace datapath (a
    /// tunnel copy goes through a second bridge): stopping at once lost
    /// such a copy under load.
    pub fn stop(mut self) -> Vec<Vec<u8>> {
        const QUIET: std::time::Duration = std::time::Duration::from_millis(150);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut seen = self.frames_so_far().len();
        loop {
            std::thread::sleep(QUIET);
            let now = self.frames_so_far().len();
            if now == seen || std::time::Instant::now() >= deadline {
                break;
            }
            seen = now;
        }
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        let bytes = std::fs::read(&self.file).unwrap_or_default();
        read_pcap(&bytes)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// The frames of a pcap file (either byte order, micro- or nanosecond).
pub fn read_pcap(bytes: &[u8]) -> Vec<Vec<u8>> {
    let Some(magic) = bytes.get(..4) else { return Vec::new() };
    let little = matches!(magic, [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]);
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    let mut frames = Vec::new();
    let mut at = 24;
    while let Some(len) = u32_at(at + 8) {
        let start = at + 16;
        let Some(frame) = bytes.get(start..start + len as usize) else { break };
        frames.push(frame.to_vec());
        at = start + len as usize;
    }
    frames
}

/// One IPv4 ICMP echo: who to whom, request or reply, and its sequence
/// number (what identifies a ping's packet among a test's traffic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Echo {
    /// The sender.
    pub from: Ipv4Addr,
    /// The receiver.
    pub to: Ipv4Addr,
    /// A request (or a reply).
    pub request: bool,
    /// The sequence number.
    pub seq: u16,
}

impl Echo {
    /// The echo an Ethernet frame carries, if it carries one.
    pub fn of(frame: &[u8]) -> Option<Echo> {
        if frame.get(12..14)? != [0x08, 0x00] {
            return None;
        }
        let ip = frame.get(14..)?;
        if *ip.get(9)? != 1 {
            return None;
        }
        let icmp = ip.get(usize::from(ip.first()? & 0x0f) * 4..)?;
        let request = match icmp.first()? {
            8 => true,
            0 => false,
            _ => return None,
        };
        let address =
            |at: usize| -> Option<Ipv4Addr> { Some(<[u8; 4]>::try_from(ip.get(at..at + 4)?).ok()?.into()) };
        let seq = u16::from_be_bytes(icmp.get(6..8)?.try_into().ok()?);
        Some(Echo { from: address(12)?, to: address(16)?, request, seq })
    }

    /// The echoes of a ping: `count` requests from `from` to `to` (sequence
    /// numbers from 1, as iputils' ping counts) and their replies, sorted.
    pub fn of_ping(from: Ipv4Addr, to: Ipv4Addr, count: u16) -> Vec<Echo> {
        let mut list: Vec<Echo> = (1..=count)
            .flat_map(|seq| {
                [Echo { from, to, request: true, seq }, Echo { from: to, to: from, request: false, seq }]
            })
            .collect();
        list.sort();
        list
    }
}

/// The echoes in `frames`, sorted (frames that carry none are left out).
pub fn echoes(frames: impl IntoIterator<Item = Vec<u8>>) -> Vec<Echo> {
    let mut list: Vec<Echo> = frames.into_iter().filter_map(|f| Echo::of(&f)).collect();
    list.sort();
    list
}
