//! Exponential backoff with jitter, shared by the browser's reconnect loop
//! and the server's restart policy.

use std::time::Duration;

/// Delays that grow by `multiplier` per attempt from `initial` up to `max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
}

impl Backoff {
    /// The delay before retry number `attempt` (1 for the first retry).
    ///
    /// `random` is a uniform sample from `[0, 1)`; the delay is drawn from
    /// the upper half of the exponential step ("equal jitter"), so clients
    /// that lost the same server spread out their reconnects while each one
    /// still waits at least half the nominal delay.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let nominal = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exponent);
        let capped = nominal.min(self.max.as_secs_f64()).max(0.0);
        let random = random.clamp(0.0, 1.0);
        Duration::from_secs_f64(capped * (0.5 + random / 2.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(10),
        multiplier: 2.0,
    };

    #[test]
    fn grows_exponentially_until_the_cap() {
        let upper: Vec<_> = (1..=7).map(|n| BACKOFF.delay(n, 1.0)).collect();
        assert_eq!(
            upper,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000].map(Duration::from_millis)
        );
    }

    #[test]
    fn jitter_stays_within_the_upper_half() {
        assert_eq!(BACKOFF.delay(3, 0.0), Duration::from_millis(1000));
        assert_eq!(BACKOFF.delay(3, 0.5), Duration::from_millis(1500));
        // Out-of-range samples are clamped rather than trusted.
        assert_eq!(BACKOFF.delay(3, 7.0), Duration::from_millis(2000));
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        assert_eq!(BACKOFF.delay(u32::MAX, 1.0), Duration::from_secs(10));
        assert_eq!(BACKOFF.delay(0, 1.0), Duration::from_millis(500));
    }
}
