//! The OVSDB byte stream cut into JSON texts (ovsdb-server writes them back
//! to back). Checks: no panic or hang; the same bytes give the same
//! messages whether they arrive in one read, one byte at a time or cut at
//! the places the input's first byte picks; the messages are the input
//! in order, each starting with `{` after whitespace and ending where its
//! brackets balance.
#![no_main]

use datapath::ovsdb::framing::{Framer, FramingError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else { return };
    let whole = frame(stream, stream.len().max(1));
    assert_eq!(frame(stream, 1), whole, "one byte at a time");
    assert_eq!(frame(stream, usize::from(step).max(1)), whole, "cut every {step} bytes");
    assert!(stream.starts_with(&whole.0.concat()), "the messages are the input, in order");
    for message in &whole.0 {
        let text = message.trim_ascii_start();
        assert_eq!(text.first(), Some(&b'{'), "an object");
        assert!(message[..message.len() - text.len()].iter().all(|b| b" \t\r\n".contains(b)));
        // The framer counts brackets, it does not pair them: `{]` is a
        // text, which the JSON parser then refuses.
        assert!(matches!(message.last(), Some(b'}' | b']')));
    }
});

/// Every message, then the error that stopped the stream if any.
fn frame(stream: &[u8], read: usize) -> (Vec<Vec<u8>>, Option<FramingError>) {
    let mut framer = Framer::new();
    let mut messages = Vec::new();
    for chunk in stream.chunks(read) {
        framer.push(chunk);
        loop {
            match framer.next_message() {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => break,
                Err(error) => return (messages, Some(error)),
            }
        }
    }
    (messages, None)
}
