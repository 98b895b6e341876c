//! One OpenFlow connection: the agent's requests (dumps, bundles,
//! port_mods, barriers, echo) interleaved with what the switch answers.
//!
//! Structure-aware: a switch's message is built with a valid header whose
//! xid is one the session really sent, so replies reach the pending
//! requests (reassembly, bundle checks, refused adds) instead of stopping
//! at "unknown xid"; raw bytes are mixed in for the framing. Checks: no
//! panic, and the same bytes cut into different reads give the same
//! events.
#![no_main]

use arbitrary::Arbitrary;
use datapath::flows::{Action, Cookie, Flow, Match, Table};
use datapath::openflow::flow_mod::FlowMod;
use datapath::openflow::message::{VERSION_1_0, VERSION_1_5, decode, frame_length};
use datapath::openflow::port::PortMod10;
use datapath::openflow::session::Session;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    version_1_0: bool,
    steps: Vec<Step>,
    /// Where the switch's bytes are cut into reads.
    cuts: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// A message from the switch: header made valid, xid picked among sent.
    Reply {
        version: Version,
        msg_type: u8,
        xid: u8,
        body: Vec<u8>,
    },
    /// Bytes as they come.
    Raw(Vec<u8>),
    DumpFlows {
        cookie: u64,
        mask: u64,
        in_port: Option<u32>,
    },
    DumpPorts,
    Apply {
        flows: u8,
        port: u32,
    },
    PortMod {
        port: u16,
        on: bool,
    },
    Barrier,
    Echo,
}

#[derive(Arbitrary, Debug)]
enum Version {
    Ours,
    Other(u8),
}

fuzz_target!(|input: Input| {
    let version = if input.version_1_0 { VERSION_1_0 } else { VERSION_1_5 };
    let (whole, stream) = run(version, &input.steps);
    // The same bytes again, cut at other places.
    let mut session = Session::new(version);
    input.steps.iter().filter(|s| is_request(s)).for_each(|s| request(&mut session, s));
    let mut events = Vec::new();
    let mut at = 0;
    let mut cuts = input.cuts.iter().copied().chain(std::iter::repeat(u8::MAX));
    while at < stream.len() {
        let end = (at + usize::from(cuts.next().unwrap_or(u8::MAX)).max(1)).min(stream.len());
        match session.receive(&stream[at..end]) {
            Ok(more) => events.extend(more),
            Err(error) => {
                assert!(whole.1.is_some(), "only a cut stream failed: {error}");
                return;
            }
        }
        at = end;
    }
    if whole.1.is_none() {
        assert_eq!(events, whole.0, "cutting the stream changed the events");
    }
});

type Outcome = (Vec<datapath::openflow::session::Event>, Option<datapath::openflow::session::SessionError>);

/// Sends every request first, then feeds the switch's bytes in one read.
fn run(version: u8, steps: &[Step]) -> (Outcome, Vec<u8>) {
    let mut session = Session::new(version);
    for step in steps.iter().filter(|s| is_request(s)) {
        request(&mut session, step);
    }
    let xids = sent_xids(&session.take_outgoing());
    let mut stream = Vec::new();
    for step in steps {
        match step {
            Step::Reply { version: v, msg_type, xid, body } => {
                let v = match v {
                    Version::Ours => version,
                    Version::Other(v) => *v,
                };
                let xid = xids.get(usize::from(*xid) % xids.len().max(1)).copied().unwrap_or(0);
                let len = 8 + body.len().min(usize::from(u16::MAX) - 8);
                stream.push(v);
                stream.push(*msg_type);
                stream.extend(u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
                stream.extend(xid.to_be_bytes());
                stream.extend(&body[..len - 8]);
            }
            Step::Raw(bytes) => stream.extend(bytes),
            _ => {}
        }
    }
    let outcome = match session.receive(&stream) {
        Ok(events) => (events, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let _ = session.take_outgoing();
    let _ = session.is_idle();
    (outcome, stream)
}

fn is_request(step: &Step) -> bool {
    !matches!(step, Step::Reply { .. } | Step::Raw(_))
}

fn request(session: &mut Session, step: &Step) {
    match step {
        Step::DumpFlows { cookie, mask, in_port } => {
            let matches = in_port.iter().map(|&p| Match::InPort(p)).collect();
            session.dump_flows_matching(*cookie, *mask, matches);
        }
        Step::DumpPorts => {
            session.dump_ports();
        }
        Step::Apply { flows, port } => {
            let flow_mods: Vec<FlowMod> = (0..u32::from(*flows % 4))
                .map(|i| {
                    let flow = Flow::new(
                        Cookie::pipeline(),
                        Table::Classifier,
                        100,
                        vec![Match::InPort(port.wrapping_add(i))],
                        vec![Action::GotoTable(Table::Output)],
                    );
                    FlowMod::add(&flow)
                })
                .collect();
            session.apply(&flow_mods);
        }
        Step::PortMod { port, on } => {
            session.port_mod(PortMod10::no_flood(*port, [2, 0, 0, 0, 0, 1], *on));
        }
        Step::Barrier => {
            session.barrier();
        }
        Step::Echo => session.echo(),
        Step::Reply { .. } | Step::Raw(_) => {}
    }
}

/// The xids of the frames the session wrote, bundle adds' inner ones too.
fn sent_xids(bytes: &[u8]) -> Vec<u32> {
    let mut xids = Vec::new();
    let mut at = 0;
    while let Ok(Some(len)) = frame_length(&bytes[at..]) {
        let frame = decode(&bytes[at..at + len]).expect("the session writes frames it can read");
        xids.push(frame.xid);
        at += len;
    }
    xids
}
