//! The families read at scrape time that have few series: the config's
//! size, the probes by kind, and the prober's schedule lag histogram (read
//! from the buckets the prober always keeps, `src/checker/lag.rs`).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::kind::CheckKind;
use super::snapshot::Format;
use crate::checker::lag::LagHistogram;

/// The edges of `lvsd_check_schedule_lag_seconds` (the prober's own
/// buckets are 250 µs wide up to 100 ms; these are sums of them).
const LAG_EDGES: [f64; 9] = [
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
];

/// The numbers read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Virtual servers in the config.
    pub virtual_servers: u64,
    /// Real servers in the config (each time a virtual server lists one).
    pub real_servers: u64,
    /// Distinct probes, by [`CheckKind::index`].
    pub probes: [u64; CheckKind::ALL.len()],
    /// A reading of the schedule lag: bucket counts, sum in seconds.
    pub lag_counts: Vec<u64>,
    /// See `lag_counts`.
    pub lag_sum: f64,
}

impl Gauges {
    /// Takes the schedule lag's reading from `lag`.
    pub fn with_lag(mut self, lag: &LagHistogram) -> Gauges {
        self.lag_counts = lag.counts();
        self.lag_sum = lag.sum().as_secs_f64();
        self
    }

    /// The lag in buckets at [`LAG_EDGES`] and +Inf, each with the probes
    /// that fall in it (the encoder adds them up), and the count.
    fn lag_buckets(&self) -> (Vec<(f64, u64)>, u64) {
        let mut buckets = Vec::with_capacity(LAG_EDGES.len() + 1);
        let mut index = 0;
        for edge in LAG_EDGES {
            let mut within = 0;
            while let Some(count) = self.lag_counts.get(index) {
                match LagHistogram::bucket_edge(index) {
                    Some(e) if e.as_secs_f64() <= edge + 1e-12 => {
                        within += count;
                        index += 1;
                    }
                    _ => break,
                }
            }
            buckets.push((edge, within));
        }
        let rest = self.lag_counts.get(index..).map_or(0, |r| r.iter().sum());
        buckets.push((f64::INFINITY, rest));
        (buckets, self.lag_counts.iter().sum())
    }
}

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let one = |encoder: &mut DescriptorEncoder, name, help, value: u64| {
            let gauge = ConstGauge::new(value as i64);
            gauge.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
        };
        one(
            &mut encoder,
            "virtual_servers",
            "Virtual servers in the running config.",
            self.virtual_servers,
        )?;
        one(
            &mut encoder,
            "real_servers",
            "Real servers in the running config, each time a virtual server lists one.",
            self.real_servers,
        )?;
        let mut probes = encoder.encode_descriptor(
            "probes",
            "Distinct probes running (one per target and check, shared by virtual servers).",
            None,
            MetricType::Gauge,
        )?;
        for kind in CheckKind::ALL {
            let count = self.probes[kind.index()];
            if count > 0 {
                ConstGauge::new(count as i64).encode(probes.encode_family(&[("check", kind)])?)?;
            }
        }
        let (buckets, count) = self.lag_buckets();
        let mut lag = encoder.encode_descriptor(
            "check_schedule_lag",
            "How late probes started compared with their schedule.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        lag.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.lag_sum,
            count,
            &buckets,
            None,
        )
    }
}

/// Appends `gauges` to `out` in `format`, with the `lvsd_` prefix.
pub fn encode(out: &mut String, format: Format, gauges: Gauges) {
    format.encode_collector(out, Some("lvsd"), gauges);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lag_buckets_are_cumulative_at_their_edges() {
        let lag = LagHistogram::default();
        lag.record(Duration::from_micros(100)); // ≤ 250 µs
        lag.record(Duration::from_micros(900)); // ≤ 1 ms
        lag.record(Duration::from_millis(30)); // ≤ 50 ms
        lag.record(Duration::from_secs(3)); // +Inf
        let mut out = String::new();
        encode(
            &mut out,
            Format::OpenMetrics,
            Gauges::default().with_lag(&lag),
        );
        for want in [
            "lvsd_check_schedule_lag_seconds_bucket{le=\"0.00025\"} 1\n",
            "lvsd_check_schedule_lag_seconds_bucket{le=\"0.0005\"} 1\n",
            "lvsd_check_schedule_lag_seconds_bucket{le=\"0.001\"} 2\n",
            "lvsd_check_schedule_lag_seconds_bucket{le=\"0.025\"} 2\n",
            "lvsd_check_schedule_lag_seconds_bucket{le=\"0.05\"} 3\n",
            "lvsd_check_schedule_lag_seconds_bucket{le=\"0.1\"} 3\n",
            "lvsd_check_schedule_lag_seconds_bucket{le=\"+Inf\"} 4\n",
            "lvsd_check_schedule_lag_seconds_count 4\n",
            "lvsd_check_schedule_lag_seconds_sum 3.031\n",
        ] {
            assert!(out.contains(want), "{want} not in\n{out}");
        }
    }
}
