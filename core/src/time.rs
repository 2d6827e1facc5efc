//! RFC 3339 date-times: parsing with offset, normalization to UTC `Z`.
//!
//! ```
//! use kwh_btc_iot_core::time::Timestamp;
//! let t = Timestamp::parse("2025-12-01T11:10:00.500+01:00").unwrap();
//! assert_eq!(t.to_rfc3339(), "2025-12-01T10:10:00.5Z");
//! ```

/// A point in time at nanosecond precision, normalized to UTC.
///
/// ```
/// use kwh_btc_iot_core::time::Timestamp;
/// let t = Timestamp::parse("1970-01-01T00:00:01.25Z").unwrap();
/// assert_eq!((t.unix_seconds, t.nanos), (1, 250_000_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_seconds: i64,
    /// Nanoseconds within the second, 0..1e9.
    pub nanos: u32,
}

/// Why a timestamp was refused, as a phrase that follows the member name
/// ("ts_end is truncated"); the caller names the member.
///
/// ```
/// use kwh_btc_iot_core::time::{TimeError, Timestamp};
/// let why: TimeError = Timestamp::parse("2025-12-01 10:10:00").unwrap_err();
/// assert!(why.contains("RFC 3339"), "{why}");
/// ```
pub type TimeError = &'static str;

fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, TimeError> {
    let s = b.get(at..at + n).ok_or("is truncated")?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err("is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))");
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Ok(v)
}

fn expect(b: &[u8], at: usize, c: u8) -> Result<(), TimeError> {
    if b.get(at) == Some(&c) {
        Ok(())
    } else {
        Err("is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Timestamp {
    /// Parses an RFC 3339 `date-time` (section 5.6): `T`/`Z` in either case,
    /// an offset required, at most 9 fractional digits. Leap seconds (`:60`)
    /// are refused because they have no unambiguous UTC instant here.
    ///
    /// ```
    /// use kwh_btc_iot_core::time::Timestamp;
    /// let t = Timestamp::parse("2025-12-01T12:10:00.500+02:00").unwrap();
    /// assert_eq!(t.to_rfc3339(), "2025-12-01T10:10:00.5Z");
    /// ```
    pub fn parse(s: &str) -> Result<Timestamp, TimeError> {
        let b = s.as_bytes();
        if b.len() > 40 {
            return Err("is longer than an RFC 3339 date-time can be");
        }
        let year = digits(b, 0, 4)?;
        expect(b, 4, b'-')?;
        let month = digits(b, 5, 2)?;
        expect(b, 7, b'-')?;
        let day = digits(b, 8, 2)?;
        if !matches!(b.get(10), Some(b'T' | b't')) {
            return Err("is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))");
        }
        let hour = digits(b, 11, 2)?;
        expect(b, 13, b':')?;
        let minute = digits(b, 14, 2)?;
        expect(b, 16, b':')?;
        let second = digits(b, 17, 2)?;
        let mut i = 19;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while matches!(b.get(i), Some(c) if c.is_ascii_digit()) {
                i += 1;
            }
            let n = i - start;
            if n == 0 {
                return Err("has a '.' without fractional digits");
            }
            if n > 9 {
                return Err("has more than 9 fractional second digits (nanosecond precision)");
            }
            nanos = digits(b, start, n)? * 10u32.pow((9 - n) as u32);
        }
        let offset_s: i64 = match b.get(i) {
            Some(b'Z' | b'z') => {
                i += 1;
                0
            }
            Some(&sign @ (b'+' | b'-')) => {
                let oh = digits(b, i + 1, 2)?;
                expect(b, i + 3, b':')?;
                let om = digits(b, i + 4, 2)?;
                if oh > 23 || om > 59 {
                    return Err("has an offset outside -23:59..+23:59");
                }
                i += 6;
                let o = i64::from(oh * 3600 + om * 60);
                if sign == b'-' {
                    -o
                } else {
                    o
                }
            }
            _ => return Err("has no UTC offset (end it with Z or +hh:mm)"),
        };
        if i != b.len() {
            return Err("has trailing characters after the date-time");
        }
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
            return Err("is not a real calendar date");
        }
        if hour > 23 || minute > 59 {
            return Err("has an hour or minute out of range");
        }
        if second == 60 {
            return Err("is a leap second (:60), which is not supported");
        }
        if second > 59 {
            return Err("has seconds out of range");
        }
        let days = days_from_civil(i64::from(year), month, day);
        let unix_seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_s;
        let t = Timestamp {
            unix_seconds,
            nanos,
        };
        let (y, _, _) = civil_from_days(unix_seconds.div_euclid(86_400));
        if !(0..=9999).contains(&y) {
            return Err("falls outside years 0000..9999 once converted to UTC");
        }
        Ok(t)
    }

    /// The normalized form: UTC, `Z`, fractional seconds without trailing zeros.
    ///
    /// ```
    /// use kwh_btc_iot_core::time::Timestamp;
    /// assert_eq!(Timestamp::from_unix(1_764_583_800, 120_000_000).to_rfc3339(), "2025-12-01T10:10:00.12Z");
    /// ```
    pub fn to_rfc3339(&self) -> String {
        let mut s = String::with_capacity(30);
        self.write_rfc3339(&mut s);
        s
    }

    /// Appends the normalized form to `out`.
    ///
    /// ```
    /// use kwh_btc_iot_core::time::Timestamp;
    /// let mut s = String::from("at ");
    /// Timestamp::from_unix(0, 0).write_rfc3339(&mut s);
    /// assert_eq!(s, "at 1970-01-01T00:00:00Z");
    /// ```
    pub fn write_rfc3339(&self, out: &mut String) {
        let mut buf = [0u8; 32];
        let n = self.write_rfc3339_bytes(&mut buf);
        out.push_str(std::str::from_utf8(&buf[..n]).expect("ASCII"));
    }

    /// Writes the normalized form into `buf` (ASCII, at most 30 bytes) and
    /// returns its length. The hot path of canonicalization: no formatting
    /// machinery, no allocation.
    ///
    /// ```
    /// use kwh_btc_iot_core::time::Timestamp;
    /// let mut buf = [0u8; 32];
    /// let n = Timestamp::from_unix(86_400, 1).write_rfc3339_bytes(&mut buf);
    /// assert_eq!(&buf[..n], b"1970-01-02T00:00:00.000000001Z");
    /// ```
    pub fn write_rfc3339_bytes(&self, buf: &mut [u8; 32]) -> usize {
        let days = self.unix_seconds.div_euclid(86_400);
        let secs = self.unix_seconds.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        let y = y.clamp(0, 9999) as u32;
        let put2 = |b: &mut [u8; 32], at: usize, v: u32| {
            b[at] = b'0' + (v / 10) as u8;
            b[at + 1] = b'0' + (v % 10) as u8;
        };
        put2(buf, 0, y / 100);
        put2(buf, 2, y % 100);
        buf[4] = b'-';
        put2(buf, 5, m);
        buf[7] = b'-';
        put2(buf, 8, d);
        buf[10] = b'T';
        put2(buf, 11, secs / 3600);
        buf[13] = b':';
        put2(buf, 14, (secs / 60) % 60);
        buf[16] = b':';
        put2(buf, 17, secs % 60);
        let mut n = 19;
        if self.nanos > 0 {
            buf[n] = b'.';
            n += 1;
            let mut v = self.nanos;
            let mut digits = [0u8; 9];
            for i in (0..9).rev() {
                digits[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            let mut len = 9;
            while digits[len - 1] == b'0' {
                len -= 1;
            }
            buf[n..n + len].copy_from_slice(&digits[..len]);
            n += len;
        }
        buf[n] = b'Z';
        n + 1
    }

    /// `self - earlier` in nanoseconds.
    ///
    /// ```
    /// use kwh_btc_iot_core::time::Timestamp;
    /// let start = Timestamp::parse("2025-12-01T10:10:00Z").unwrap();
    /// let end = Timestamp::parse("2025-12-01T10:15:00.5Z").unwrap();
    /// assert_eq!(end.nanos_since(&start), 300_500_000_000);
    /// assert_eq!(start.nanos_since(&end), -300_500_000_000);
    /// ```
    pub fn nanos_since(&self, earlier: &Timestamp) -> i128 {
        (i128::from(self.unix_seconds) - i128::from(earlier.unix_seconds)) * 1_000_000_000
            + i128::from(self.nanos)
            - i128::from(earlier.nanos)
    }

    /// From seconds and nanoseconds since the epoch, for callers that hold a
    /// clock (the core reads none); `nanos` is clamped to 999 999 999.
    ///
    /// ```
    /// use kwh_btc_iot_core::time::Timestamp;
    /// assert_eq!(Timestamp::from_unix(0, 0).to_rfc3339(), "1970-01-01T00:00:00Z");
    /// // Nanoseconds past the second are clamped, never carried.
    /// assert_eq!(Timestamp::from_unix(0, 2_000_000_000).nanos, 999_999_999);
    /// ```
    pub fn from_unix(unix_seconds: i64, nanos: u32) -> Timestamp {
        Timestamp {
            unix_seconds,
            nanos: nanos.min(999_999_999),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_to_utc() {
        let n = |s: &str| Timestamp::parse(s).unwrap().to_rfc3339();
        assert_eq!(n("2025-12-01T10:10:00Z"), "2025-12-01T10:10:00Z");
        assert_eq!(n("2025-12-01t10:10:00z"), "2025-12-01T10:10:00Z");
        assert_eq!(n("2025-12-01T00:30:00+01:00"), "2025-11-30T23:30:00Z");
        assert_eq!(n("2025-12-31T23:30:00-01:00"), "2026-01-01T00:30:00Z");
        assert_eq!(n("2025-12-01T10:10:00.120000Z"), "2025-12-01T10:10:00.12Z");
        assert_eq!(n("2025-12-01T10:10:00.000Z"), "2025-12-01T10:10:00Z");
        assert_eq!(n("2024-02-29T00:00:00Z"), "2024-02-29T00:00:00Z");
        assert_eq!(n("1970-01-01T00:00:00Z"), "1970-01-01T00:00:00Z");
        assert_eq!(
            n("1969-12-31T23:59:59.999999999Z"),
            "1969-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:01Z")
                .unwrap()
                .unix_seconds,
            1
        );
    }

    #[test]
    fn refuses_non_rfc3339() {
        for bad in [
            "2025-12-01T10:10:00",
            "2025-12-01 10:10:00Z",
            "2025-12-01T10:10Z",
            "2025-02-29T10:10:00Z",
            "2025-13-01T10:10:00Z",
            "2025-12-01T24:00:00Z",
            "2025-12-01T10:10:60Z",
            "2025-12-01T10:10:00.Z",
            "2025-12-01T10:10:00.1234567891Z",
            "2025-12-01T10:10:00+0100",
            "2025-12-01T10:10:00+24:00",
            "2025-12-01T10:10:00ZZ",
            "0000-01-01T00:00:00+00:01",
            "+2025-12-01T10:10:00Z",
            "",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }
}
