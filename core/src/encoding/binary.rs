//! One bounds-checked reader and the writers of the binary formats the
//! crate decodes: Bitcoin's little-endian integers and CompactSize, and
//! OpenTimestamps' LEB128 varuint.
//!
//! ```
//! use kwh_btc_iot_core::encoding::binary::{write_compact_size, Reader};
//! let mut out = Vec::new();
//! write_compact_size(&mut out, 300);
//! assert_eq!(out, [0xfd, 0x2c, 0x01]);
//! let mut r = Reader::new(&out);
//! assert_eq!(r.compact_size("count").unwrap(), 300);
//! assert!(r.end_or_trailing().is_none());
//! ```

use super::DecodeError;

type Result<T> = std::result::Result<T, DecodeError>;

/// A bounds-checked reader over bytes. Errors say what was being read and
/// at which byte offset (counted from the outer input when the reader
/// works on a slice of it, see [`Reader::with_base`]).
///
/// ```
/// use kwh_btc_iot_core::encoding::binary::Reader;
/// let mut r = Reader::new(&[0x01, 0x00, 0x00, 0x00, 0xff]);
/// assert_eq!(r.u32_le("version").unwrap(), 1);
/// assert_eq!(r.remaining(), 1);
/// assert!(r.u32_le("time").unwrap_err().message.contains("time"));
/// ```
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    ///
    /// ```
    /// let mut r = kwh_btc_iot_core::encoding::binary::Reader::new(&[1, 2]);
    /// assert_eq!(r.u8("first").unwrap(), 1);
    /// ```
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader over `buf`, which starts at byte `base` of the outer input.
    ///
    /// ```
    /// let mut r = kwh_btc_iot_core::encoding::binary::Reader::with_base(&[], 10);
    /// assert!(r.u8("flag").unwrap_err().message.contains("byte 10"));
    /// ```
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// The offset of the next byte in the outer input.
    ///
    /// ```
    /// let r = kwh_btc_iot_core::encoding::binary::Reader::with_base(&[0], 4);
    /// assert_eq!(r.at(), 4);
    /// ```
    pub fn at(&self) -> usize {
        self.base + self.pos
    }

    /// The offset of the next byte within this reader's own bytes.
    ///
    /// ```
    /// let mut r = kwh_btc_iot_core::encoding::binary::Reader::with_base(&[1, 2], 4);
    /// r.u8("x").unwrap();
    /// assert_eq!((r.offset(), r.at()), (1, 5));
    /// ```
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// All the bytes this reader reads from, read or not (for hashing a
    /// span between two offsets).
    ///
    /// ```
    /// let r = kwh_btc_iot_core::encoding::binary::Reader::new(&[1, 2]);
    /// assert_eq!(r.input(), &[1, 2]);
    /// ```
    pub fn input(&self) -> &'a [u8] {
        self.buf
    }

    /// Bytes left to read.
    ///
    /// ```
    /// let mut r = kwh_btc_iot_core::encoding::binary::Reader::new(&[1, 2, 3]);
    /// r.bytes(2, "x").unwrap();
    /// assert_eq!(r.remaining(), 1);
    /// ```
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn truncated(&self, what: &str) -> DecodeError {
        DecodeError::new(
            "truncated",
            format!("input ends inside the {what} (at byte {})", self.at()),
        )
    }

    /// The next `n` bytes; `what` names them in the error.
    ///
    /// ```
    /// let mut r = kwh_btc_iot_core::encoding::binary::Reader::new(&[1, 2]);
    /// assert_eq!(r.bytes(2, "pair").unwrap(), &[1, 2]);
    /// assert_eq!(r.bytes(1, "more").unwrap_err().code, "truncated");
    /// ```
    pub fn bytes(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(self.truncated(what));
        }
        let n = n as usize;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// One byte.
    ///
    /// ```
    /// let mut r = kwh_btc_iot_core::encoding::binary::Reader::new(&[9]);
    /// assert_eq!(r.u8("tag").unwrap(), 9);
    /// ```
    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.bytes(1, what)?[0])
    }

    /// A little-endian `u32`.
    ///
    /// ```
    /// let mut r = kwh_btc_iot_core::encoding::binary::Reader::new(&[1, 0, 0, 0]);
    /// assert_eq!(r.u32_le("version").unwrap(), 1);
    /// ```
    pub fn u32_le(&mut self, what: &str) -> Result<u32> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A little-endian `u64`.
    ///
    /// ```
    /// let mut r = kwh_btc_iot_core::encoding::binary::Reader::new(&[2, 0, 0, 0, 0, 0, 0, 0]);
    /// assert_eq!(r.u64_le("value").unwrap(), 2);
    /// ```
    pub fn u64_le(&mut self, what: &str) -> Result<u64> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Bitcoin's CompactSize, minimal encoding only (as Bitcoin Core), at
    /// most 0x02000000.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::binary::Reader;
    /// assert_eq!(Reader::new(&[0xfc]).compact_size("n").unwrap(), 0xfc);
    /// assert_eq!(Reader::new(&[0xfd, 1, 0]).compact_size("n").unwrap_err().code, "bad_compact_size");
    /// ```
    pub fn compact_size(&mut self, what: &str) -> Result<u64> {
        let at = self.at();
        let first = self.u8(what)?;
        let (v, min) = match first {
            0xfd => {
                let b = self.bytes(2, what)?;
                (u64::from(u16::from_le_bytes([b[0], b[1]])), 0xfd)
            }
            0xfe => (u64::from(self.u32_le(what)?), 0x1_0000),
            0xff => (self.u64_le(what)?, 0x1_0000_0000),
            n => (u64::from(n), 0),
        };
        if v < min {
            return Err(DecodeError::new(
                "bad_compact_size",
                format!("the {what} at byte {at} is not minimally encoded"),
            ));
        }
        if v > 0x0200_0000 {
            return Err(DecodeError::new(
                "bad_compact_size",
                format!("the {what} at byte {at} is too large ({v})"),
            ));
        }
        Ok(v)
    }

    /// A minimal LEB128 number that fits in 64 bits (OpenTimestamps).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::binary::Reader;
    /// assert_eq!(Reader::new(&[0xac, 0x02]).varuint("n").unwrap(), 300);
    /// assert_eq!(Reader::new(&[0x80, 0x00]).varuint("n").unwrap_err().code, "bad_varuint");
    /// ```
    pub fn varuint(&mut self, what: &str) -> Result<u64> {
        let start = self.at();
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8(what)?;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 || shift > 63 {
                return Err(DecodeError::new(
                    "bad_varuint",
                    format!("the {what} at byte {start} does not fit in 64 bits"),
                ));
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(DecodeError::new(
                        "bad_varuint",
                        format!("the {what} at byte {start} is not minimally encoded"),
                    ));
                }
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// A varuint length, then that many bytes, between `min` and `max`.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::binary::Reader;
    /// assert_eq!(Reader::new(&[2, 7, 8]).varbytes(8, 1, "arg").unwrap(), &[7, 8]);
    /// assert_eq!(Reader::new(&[0]).varbytes(8, 1, "arg").unwrap_err().code, "empty_argument");
    /// ```
    pub fn varbytes(&mut self, max: usize, min: usize, what: &str) -> Result<&'a [u8]> {
        let at = self.at();
        let n = self.varuint(what)?;
        if n > max as u64 {
            return Err(DecodeError::new(
                "too_long",
                format!("the {what} at byte {at} is {n} bytes, more than {max}"),
            ));
        }
        if n < min as u64 {
            return Err(DecodeError::new(
                "empty_argument",
                format!("the {what} at byte {at} is {n} bytes, fewer than {min}"),
            ));
        }
        self.bytes(n, what)
    }

    /// Refuses a count of items that cannot fit in the remaining bytes
    /// (before allocating for them).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::binary::Reader;
    /// assert!(Reader::new(&[0; 8]).check_count(2, 4, "inputs").is_ok());
    /// assert!(Reader::new(&[0; 8]).check_count(3, 4, "inputs").is_err());
    /// ```
    pub fn check_count(&self, n: u64, min_item_bytes: u64, what: &str) -> Result<()> {
        if n.saturating_mul(min_item_bytes) > self.remaining() as u64 {
            return Err(DecodeError::new(
                "truncated",
                format!(
                    "{n} {what} cannot fit in the {} remaining bytes",
                    self.remaining()
                ),
            ));
        }
        Ok(())
    }

    /// `None` at the end of the input, else the number of bytes left (each
    /// format words its own `trailing_data` error).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::binary::Reader;
    /// assert_eq!(Reader::new(&[1]).end_or_trailing(), Some(1));
    /// ```
    pub fn end_or_trailing(&self) -> Option<usize> {
        (self.remaining() > 0).then_some(self.remaining())
    }
}

/// Writes Bitcoin's CompactSize (minimal encoding).
///
/// ```
/// let mut out = Vec::new();
/// kwh_btc_iot_core::encoding::binary::write_compact_size(&mut out, 0x1_0000);
/// assert_eq!(out, [0xfe, 0, 0, 1, 0]);
/// ```
pub fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Writes a LEB128 varuint (OpenTimestamps).
///
/// ```
/// let mut out = Vec::new();
/// kwh_btc_iot_core::encoding::binary::write_varuint(&mut out, 300);
/// assert_eq!(out, [0xac, 0x02]);
/// ```
pub fn write_varuint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_size_and_varuint_round_trip() {
        for n in [0u64, 1, 0xfc, 0xfd, 0xffff, 0x1_0000, 0x0200_0000] {
            let mut o = Vec::new();
            write_compact_size(&mut o, n);
            let mut r = Reader::new(&o);
            assert_eq!(r.compact_size("n").unwrap(), n);
            assert_eq!(r.end_or_trailing(), None);
        }
        for n in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut o = Vec::new();
            write_varuint(&mut o, n);
            assert_eq!(Reader::new(&o).varuint("n").unwrap(), n);
        }
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            Reader::new(&too_big).varuint("n").unwrap_err().code,
            "bad_varuint"
        );
    }
}
