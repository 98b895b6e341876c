//! One OpenFlow message from the switch, every type the decoder knows
//! (replies, port status, errors, multipart parts) and the ones it does not.
//!
//! The input is read twice: as the connection reads a stream (frame by
//! frame, by the header's length), and as one frame whose length field is
//! fixed up, so mutations are not all refused by the header. Whatever
//! decodes must encode and decode back to the same value.
#![no_main]

use datapath::flows::Action;
use datapath::openflow::message::{
    Frame, Message, MultipartBody, decode, encode, frame_length, set_async_port_status,
};
use datapath::openflow::port::PortDesc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(len)) = frame_length(rest) {
        if len > rest.len() {
            break;
        }
        check(&rest[..len]);
        rest = &rest[len..];
    }
    if (8..=usize::from(u16::MAX)).contains(&data.len()) {
        let mut frame = data.to_vec();
        let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
        frame[2..4].copy_from_slice(&len.to_be_bytes());
        check(&frame);
    }
});

fn check(frame: &[u8]) {
    let _ = set_async_port_status(frame);
    let Ok(decoded) = decode(frame) else { return };
    look_inside(&decoded.message);
    let again = encode(decoded.version, decoded.xid, &decoded.message);
    assert_eq!(frame_length(&again), Ok(Some(again.len())));
    // A port name that is not UTF-8 reads lossily (U+FFFD) and is cut to
    // 16 bytes when written: no fixed point to compare.
    if format!("{:?}", decoded.message).contains('\u{fffd}') {
        return;
    }
    let redecoded = decode(&again).expect("what we decoded encodes to something we decode");
    assert_eq!(canonical(redecoded), canonical(decoded), "decode(encode(x)) == x");
}

/// What the session reads from a message beyond its fields.
fn look_inside(message: &Message) {
    match message {
        Message::Error(error) => {
            let _ = (error.to_string(), error.kind_name(), error.code_name(), error.request_xid());
        }
        Message::MultipartReply { body: MultipartBody::FlowDesc(flows), .. } => {
            for flow in flows {
                let _ = (flow.to_flow(), flow.flow());
            }
        }
        Message::FlowMod(flow_mod) => {
            let _ = flow_mod.flow();
        }
        Message::BundleAdd { message, .. } => {
            if let Ok(inner) = decode(message) {
                look_inside(&inner.message);
            }
        }
        _ => {}
    }
}

/// What survives a re-encoding. A flow whose instructions are not the
/// pipeline's is re-encoded without them (the simulated switch keeps such
/// a flow's bytes in a `FlowStatsEntry` instead), which reads back as a
/// drop.
fn canonical(mut frame: Frame) -> Frame {
    match &mut frame.message {
        Message::MultipartReply { body: MultipartBody::FlowDesc(flows), .. } => {
            for flow in flows.iter_mut().filter(|f| f.actions.is_err()) {
                flow.actions = Ok(vec![Action::Drop]);
            }
        }
        Message::MultipartReply { body: MultipartBody::PortDesc(ports), .. } => {
            ports.iter_mut().for_each(terminated);
        }
        Message::PortStatus { port, .. } => terminated(port),
        // The same for a flow_mod, whose instructions outside the pipeline
        // read as none (`ReceivedFlowMod` keeps their bytes).
        Message::FlowMod(flow_mod) if flow_mod.actions.is_empty() => flow_mod.actions = vec![Action::Drop],
        _ => {}
    }
    frame
}

/// A name that fills all 16 bytes (OVS always ends it with a NUL) reads
/// whole and is written cut to 15.
fn terminated(port: &mut PortDesc) {
    while port.name.len() > 15 {
        port.name.pop();
    }
}
