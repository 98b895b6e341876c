//! Bounds-checked big-endian reading and writing of OpenFlow structures.
//! A read past the end is a [`DecodeError`], never a panic: everything the
//! switch sends goes through here.

use super::DecodeError;

/// Reads big-endian fields from a byte slice.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `what` names the structure in errors.
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when fewer remain.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::malformed(
                self.what,
                format!("needs {n} more bytes at offset {}, has {}", self.pos, self.remaining()),
            ));
        }
        let slice = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// A reader over the next `n` bytes, for a nested structure.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when fewer remain.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader::new(self.bytes(n)?, what))
    }

    /// Skips `n` bytes (padding).
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when fewer remain.
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.bytes(n).map(|_| ())
    }

    /// The rest of the buffer.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// One byte.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] at the end of the buffer.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian u16.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when fewer than 2 bytes remain.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian u32.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when fewer than 4 bytes remain.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian u64.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when fewer than 8 bytes remain.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Six bytes (an Ethernet address).
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] when fewer than 6 bytes remain.
    pub fn mac(&mut self) -> Result<[u8; 6], DecodeError> {
        self.array()
    }
}

/// Writes big-endian fields into a growing buffer.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer::default()
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Appends a big-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// Appends `n` zero bytes.
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.buf.resize(self.buf.len() + n, 0);
        self
    }

    /// Pads with zeros to a multiple of 8 bytes since `start`.
    pub fn pad8_from(&mut self, start: usize) -> &mut Self {
        let len = self.buf.len() - start;
        self.zeros(len.next_multiple_of(8) - len)
    }

    /// Overwrites a u16 written earlier (a length known only at the end).
    pub fn set_u16(&mut self, at: usize, v: u16) {
        self.buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// The bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// A structure's length as a u16 field, saturating (OpenFlow messages are at
/// most 64 KiB; the encoder never builds one larger).
pub fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
