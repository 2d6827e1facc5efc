//! The gateway's one clock: wall-clock time as a core [`Timestamp`], and as
//! microseconds since the Unix epoch (the unit the storage keeps times in),
//! with the conversions between the two.

use std::time::{SystemTime, UNIX_EPOCH};

use kwh_btc_iot_core::time::Timestamp;

/// Now, to the microsecond.
pub fn now() -> Timestamp {
    from_unix_us(now_us())
}

/// Now, in microseconds since the Unix epoch (0 for a clock set before 1970).
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A timestamp in microseconds since the Unix epoch (finer digits dropped).
pub fn unix_us(t: &Timestamp) -> i64 {
    (t.nanos_since(&Timestamp::from_unix(0, 0)) / 1000) as i64
}

/// The timestamp of a time kept in microseconds since the Unix epoch.
pub fn from_unix_us(us: i64) -> Timestamp {
    Timestamp::from_unix(
        us.div_euclid(1_000_000),
        (us.rem_euclid(1_000_000) * 1000) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_round_trip() {
        for us in [
            0,
            1,
            999_999,
            1_000_000,
            1_733_300_000_123_456,
            -1,
            -1_500_000,
        ] {
            assert_eq!(unix_us(&from_unix_us(us)), us);
        }
        assert_eq!(
            from_unix_us(1_500_000).to_rfc3339(),
            Timestamp::from_unix(1, 500_000_000).to_rfc3339()
        );
    }

    #[test]
    fn now_agrees_with_now_us() {
        let before = now_us();
        let t = unix_us(&now());
        let after = now_us();
        assert!(before > 1_600_000_000_000_000);
        assert!(before <= t && t <= after);
    }
}
