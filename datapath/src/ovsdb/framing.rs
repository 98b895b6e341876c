//! OVSDB speaks JSON-RPC as JSON texts written back to back, with no
//! delimiter. This finds where each one ends in a stream of bytes: it
//! tracks strings, escapes and nesting depth, so a message split across
//! reads waits for the rest and several in one read come out one by one.

/// The largest message accepted (a full dump of a big bridge fits well).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Bytes that cannot be OVSDB's JSON-RPC.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Something other than a JSON object at the top level.
    #[error("expected a JSON object, found byte {0:#04x}")]
    NotAnObject(u8),
    /// A message longer than [`MAX_MESSAGE`].
    #[error("message longer than {MAX_MESSAGE} bytes")]
    TooLong,
    /// Brackets that close more than they opened.
    #[error("unbalanced brackets")]
    Unbalanced,
}

/// Splits a byte stream into complete JSON texts.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Where scanning resumes, and the state there.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Self {
        Framer::default()
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, if one is there (`Ok(None)`: need more
    /// bytes).
    ///
    /// # Errors
    /// [`FramingError`] when the stream is not JSON objects; the connection
    /// must be dropped.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        while self.scanned < self.buf.len() {
            let byte = self.buf[self.scanned];
            self.scanned += 1;
            if self.in_string {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b' ' | b'\t' | b'\r' | b'\n' if self.depth == 0 => {}
                b'{' | b'[' if self.depth == 0 && byte == b'[' => {
                    return Err(FramingError::NotAnObject(byte));
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.checked_sub(1).ok_or(FramingError::Unbalanced)?;
                    if self.depth == 0 {
                        let message: Vec<u8> = self.buf.drain(..self.scanned).collect();
                        self.scanned = 0;
                        return Ok(Some(message));
                    }
                }
                b'"' if self.depth > 0 => self.in_string = true,
                other if self.depth == 0 => return Err(FramingError::NotAnObject(other)),
                _ => {}
            }
        }
        if self.buf.len() > MAX_MESSAGE {
            return Err(FramingError::TooLong);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(framer: &mut Framer) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(m) = framer.next_message().unwrap() {
            out.push(String::from_utf8(m).unwrap().trim().to_owned());
        }
        out
    }

    #[test]
    fn messages_back_to_back_come_out_one_by_one() {
        let mut framer = Framer::new();
        framer.push(br#"{"id":1,"result":[]}{"id":2,"result":{"a":[1,{"b":2}]}} {"id":3}"#);
        assert_eq!(
            all(&mut framer),
            [r#"{"id":1,"result":[]}"#, r#"{"id":2,"result":{"a":[1,{"b":2}]}}"#, r#"{"id":3}"#]
        );
    }

    #[test]
    fn a_message_split_anywhere_waits_for_the_rest() {
        let text = br#"{"method":"update2","params":["x",{"s":"a}\"]{"}],"id":null}"#;
        for split in 0..text.len() {
            let mut framer = Framer::new();
            framer.push(&text[..split]);
            assert_eq!(framer.next_message().unwrap(), None, "split at {split}");
            framer.push(&text[split..]);
            assert_eq!(framer.next_message().unwrap().as_deref(), Some(&text[..]));
        }
    }

    #[test]
    fn brackets_inside_strings_and_escaped_quotes_do_not_count() {
        let mut framer = Framer::new();
        framer.push(br#"{"a":"}}]]\"{{"}{"b":1}"#);
        assert_eq!(all(&mut framer).len(), 2);
    }

    #[test]
    fn garbage_is_an_error_not_a_hang_or_a_panic() {
        for bad in [&b"x{}"[..], b"[1]", b"{}}"] {
            let mut framer = Framer::new();
            framer.push(bad);
            let mut result = framer.next_message();
            while let Ok(Some(_)) = result {
                result = framer.next_message();
            }
            assert!(result.is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
