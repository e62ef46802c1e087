//! The TCP checks' schedule lag, from lvsd's metrics
//! (`lvsd_check_schedule_lag_seconds`, a histogram: so to the edge of a
//! bucket), read from inside lvsd's namespace.

use std::io::{Read, Write};

use super::pair::enter;

/// Where lvsd serves its metrics, in its namespace.
pub const METRICS: &str = "127.0.0.1:9650";

/// The schedule lag histogram: (upper edge in s, cumulative count),
/// `+Inf` last.
pub fn buckets(ns: &str) -> Vec<(f64, u64)> {
    let ns = ns.to_string();
    let text = std::thread::spawn(move || {
        enter(&ns);
        let mut s = std::net::TcpStream::connect(METRICS).expect("lvsd's metrics");
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    })
    .join()
    .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("lvsd_check_schedule_lag_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (edge, count) = l.split_once("\"} ")?;
            let edge = if edge == "+Inf" {
                f64::INFINITY
            } else {
                edge.parse().ok()?
            };
            Some((edge, count.trim().parse().ok()?))
        })
        .collect()
}

/// p50 and p99 (ms) of the lags counted between two readings, and how
/// many probes they are.
pub fn percentiles(before: &[(f64, u64)], after: &[(f64, u64)]) -> (f64, f64, u64) {
    let diff: Vec<(f64, u64)> = after
        .iter()
        .map(|&(edge, n)| {
            let was = before.iter().find(|b| b.0 == edge).map_or(0, |b| b.1);
            (edge, n.saturating_sub(was))
        })
        .collect();
    let total = diff.last().map_or(0, |d| d.1).max(1);
    let at = |p: f64| {
        diff.iter()
            .find(|d| d.1 as f64 >= p * total as f64)
            .map_or(f64::INFINITY, |d| d.0 * 1000.0)
    };
    (at(0.5), at(0.99), total)
}
