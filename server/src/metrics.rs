//! Counters and histograms for `/metrics` (Prometheus text format). Only
//! ids-free numbers: nothing here can hold content, a name or an address.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Latency buckets, seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Messages per group commit.
pub const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// A cumulative histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum of observations in millionths.
    sum_micro: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micro: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        // Saturating float to integer conversion; observations are small.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let micro = (value.max(0.0) * 1_000_000.0) as u64;
        self.sum_micro.fetch_add(micro, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_micro.load(Ordering::Relaxed) as f64 / 1_000_000.0;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {total}");
    }
}

/// The relay's measurements.
#[derive(Debug)]
pub struct Metrics {
    /// From a `send` frame read to its commit outcome (the ack's wait).
    pub ack_latency: Histogram,
    /// From a message's commit to its `deliver` frame written to a
    /// connection live (on this or another node).
    pub delivery_latency: Histogram,
    /// Messages per group-commit transaction.
    pub commit_batch: Histogram,
    /// `deliver` frames written (live and catch-up).
    pub messages_out: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            ack_latency: Histogram::new(LATENCY_BUCKETS),
            delivery_latency: Histogram::new(LATENCY_BUCKETS),
            commit_batch: Histogram::new(BATCH_BUCKETS),
            messages_out: AtomicU64::new(0),
        }
    }
}

/// Writes a counter or gauge.
pub fn number(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

impl Metrics {
    /// The histograms and counters in Prometheus text.
    pub fn render(&self, out: &mut String) {
        self.ack_latency.render(
            out,
            "samtale_relay_ack_latency_seconds",
            "From a send frame to its commit outcome (what the sender waits for).",
        );
        self.delivery_latency.render(
            out,
            "samtale_relay_delivery_latency_seconds",
            "From a message's commit to its live deliver frame on a connection of this node.",
        );
        self.commit_batch.render(
            out,
            "samtale_relay_commit_batch_messages",
            "Messages per group-commit transaction.",
        );
        number(
            out,
            "samtale_relay_messages_out_total",
            "counter",
            "Deliver frames written to connections on this node.",
            self.messages_out.load(Ordering::Relaxed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets() {
        let h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(9.0);
        let mut out = String::new();
        h.render(&mut out, "x", "y");
        assert!(out.contains("x_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"2\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_sum 11\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }
}
