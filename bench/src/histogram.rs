//! A latency histogram with logarithmic buckets (32 per power of two, about
//! 2% wide), so the Node client can fill the very same buckets
//! (`Math.floor(Math.log2(ns) * 32)`) and the runner merges both kinds.

use serde::{Deserialize, Serialize};

const BUCKETS_PER_OCTAVE: f64 = 32.0;
/// 2^64 ns is far beyond any run.
const BUCKETS: usize = 64 * 32;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Histogram {
    counts: Vec<u64>,
    pub count: u64,
    pub max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            count: 0,
            max_ns: 0,
        }
    }
}

/// The bucket of a latency; shared with `peers/frontail_client.js`.
pub fn bucket_of(ns: u64) -> usize {
    if ns <= 1 {
        return 0;
    }
    // Float precision is ample for a 2% bucket.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let bucket = ((ns as f64).log2() * BUCKETS_PER_OCTAVE).floor() as usize;
    bucket.min(BUCKETS - 1)
}

/// The upper edge of a bucket: percentiles are reported at most 2% high,
/// never low.
fn upper_edge(bucket: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let exponent = (bucket + 1) as f64 / BUCKETS_PER_OCTAVE;
    exponent.exp2()
}

impl Histogram {
    pub fn record(&mut self, ns: u64) {
        self.record_n(bucket_of(ns), 1);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds `n` samples to a bucket (from the Node client's sparse list).
    pub fn record_n(&mut self, bucket: usize, n: u64) {
        if let Some(slot) = self.counts.get_mut(bucket) {
            *slot += n;
            self.count += n;
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The latency below which `quantile` of the samples fall, in ns
    /// (`None` without samples).
    pub fn quantile_ns(&self, quantile: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let rank = ((quantile * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                #[allow(clippy::cast_precision_loss)]
                return Some(upper_edge(bucket).min(self.max_ns as f64));
            }
        }
        #[allow(clippy::cast_precision_loss)]
        Some(self.max_ns as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_two_percent_and_never_below() {
        let mut h = Histogram::default();
        for ns in 1..=10_000u64 {
            h.record(ns * 1000);
        }
        let p50 = h.quantile_ns(0.5).expect("samples");
        assert!((5_000_000.0..=5_120_000.0).contains(&p50), "{p50}");
        let p99 = h.quantile_ns(0.99).expect("samples");
        assert!((9_900_000.0..=10_000_000.0).contains(&p99), "{p99}");
        assert_eq!(h.quantile_ns(1.0), Some(10_000_000.0));
        assert_eq!(Histogram::default().quantile_ns(0.5), None);
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(1_000);
        b.record(2_000_000);
        b.record_n(bucket_of(3_000), 2);
        a.merge(&b);
        assert_eq!(a.count, 4);
        assert_eq!(a.max_ns, 2_000_000);
    }
}
