//! The gateway's one exponential backoff, for everything it retries: the
//! MQTT connection, bitcoind rounds and transactions, OpenTimestamps
//! submissions and upgrades.

use std::time::Duration;

/// The delay after `attempts` failed attempts in a row: `start`, doubling
/// with each further failure (`start * 2^(attempts-1)`), never more than
/// `cap` and never less than a millisecond. No failure yet (`attempts <= 1`)
/// waits `start`.
pub fn delay(start: Duration, cap: Duration, attempts: i64) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    start
        .saturating_mul(1u32 << exp.min(20))
        .min(cap)
        .max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_start_up_to_the_cap() {
        let ms = Duration::from_millis;
        let waits: Vec<Duration> = (0..9).map(|n| delay(ms(100), ms(5000), n)).collect();
        assert_eq!(
            waits,
            [100, 100, 200, 400, 800, 1600, 3200, 5000, 5000].map(ms)
        );
        assert_eq!(delay(ms(100), ms(5000), -3), ms(100));
        assert_eq!(delay(ms(100), ms(5000), i64::MAX), ms(5000));
        assert_eq!(delay(Duration::ZERO, ms(5000), 4), ms(1));
        assert_eq!(
            delay(Duration::from_secs(u64::MAX / 2), Duration::MAX, 40),
            Duration::MAX
        );
    }
}
