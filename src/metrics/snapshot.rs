//! One scrape: the daemon's state read at one moment, and its encoding as
//! OpenMetrics text, written a piece at a time as the HTTP body is sent.
//!
//! The event loop fills a [`Snapshot`] (plain rows: addresses, numbers; no
//! strings) and hands it to the listener; encoding happens as the client
//! reads, in pieces of [`ROWS_PER_PIECE`] rows, so a scrape of 20,000 real
//! servers holds the rows (~2 MB) and one piece of text (~70 kB) rather than
//! the whole 15 MB answer. Each piece goes through prometheus-client's own
//! text encoder; a family cut in several pieces keeps its `# HELP`/`# TYPE`
//! lines in the first only.
//!
//! Two formats, as the client asks (`Accept`): OpenMetrics 1.0 (what
//! Prometheus asks for) or Prometheus' classic text format 0.0.4 (curl,
//! `promtool check metrics`, older scrapers).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::labels::{DestLabels, ServiceLabels};

/// The exposition format of a scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text (ends with `# EOF`).
    #[default]
    OpenMetrics,
    /// Prometheus text 0.0.4.
    Text,
}

impl Format {
    /// The format a request's `Accept` header asks for: OpenMetrics when it
    /// names it, else the classic text format.
    pub fn for_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }

    /// Appends `registry`'s families to `out`, without an end marker.
    pub fn encode(self, out: &mut String, registry: &Registry) {
        // Writing to a String cannot fail, and the encoders only fail on
        // a failing writer.
        let _ = match self {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode_registry(out, registry)
            }
            Format::Text => prometheus_client::encoding::prometheus_text::encode(out, registry),
        };
    }

    /// Appends the families `collector` writes to `out`, their names
    /// prefixed with `prefix_` if given.
    pub fn encode_collector(
        self,
        out: &mut String,
        prefix: Option<&str>,
        collector: impl Collector,
    ) {
        let mut registry = prefix.map_or_else(Registry::default, Registry::with_prefix);
        registry.register_collector(Box::new(collector));
        self.encode(out, &registry);
    }

    /// What ends an answer.
    fn end(self) -> &'static str {
        match self {
            Format::OpenMetrics => "# EOF\n",
            Format::Text => "",
        }
    }
}

/// One kernel destination lvsd owns (a real server of a service).
#[derive(Debug, Clone, Copy)]
pub struct DestRow {
    /// node_exporter's labels.
    pub labels: DestLabels,
    /// The real server's health (every check up).
    pub up: bool,
    /// Its weight in lvsd's view of the table (0 when not in the table).
    pub weight: i64,
    /// Its configured weight.
    pub configured_weight: i64,
    /// Transitions to up and to down since start (or since it was added).
    pub to_up: u64,
    /// See `to_up`.
    pub to_down: u64,
}

/// One kernel service lvsd owns.
#[derive(Debug, Clone, Copy)]
pub struct ServiceRow {
    /// node_exporter's service labels.
    pub labels: ServiceLabels,
    /// Real servers configured.
    pub real_servers: u64,
    /// Of which healthy.
    pub up: u64,
    /// Whether the virtual server has its quorum.
    pub quorum_up: bool,
}

/// A scrape's data.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The format of `head` and of what follows.
    pub format: Format,
    /// The families with few series, already encoded (counters, histograms,
    /// counts), without `# EOF`.
    pub head: String,
    /// Per-destination rows (empty with `--metrics-per-real-server=false`).
    pub dests: Arc<[DestRow]>,
    /// Per-service rows.
    pub services: Arc<[ServiceRow]>,
}

/// Rows encoded in one piece of the body.
pub const ROWS_PER_PIECE: usize = 512;

/// A family of rows: its name, help, type and value of a row.
struct RowFamily<R: 'static> {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    /// The value of a row, and the extra label (`to`) if any.
    value: fn(&R) -> Value,
}

/// A row's value in one family.
enum Value {
    Gauge(i64),
    /// Two counters told apart by the `to` label.
    Transitions(u64, u64),
}

const DEST_FAMILIES: &[RowFamily<DestRow>] = &[
    RowFamily {
        name: "lvsd_real_server_up",
        help: "Whether the real server passes its checks (1) or not (0).",
        kind: MetricType::Gauge,
        value: |r| Value::Gauge(i64::from(r.up)),
    },
    RowFamily {
        name: "lvsd_real_server_weight",
        help: "The real server's weight in the IPVS table as lvsd wrote it (0 when not in the table); compare node_ipvs_backend_weight.",
        kind: MetricType::Gauge,
        value: |r| Value::Gauge(r.weight),
    },
    RowFamily {
        name: "lvsd_real_server_configured_weight",
        help: "The real server's weight in the config.",
        kind: MetricType::Gauge,
        value: |r| Value::Gauge(r.configured_weight),
    },
    RowFamily {
        name: "lvsd_real_server_transitions",
        help: "Times the real server went up or down, by the state it went to.",
        kind: MetricType::Counter,
        value: |r| Value::Transitions(r.to_up, r.to_down),
    },
];

const SERVICE_FAMILIES: &[RowFamily<ServiceRow>] = &[
    RowFamily {
        name: "lvsd_virtual_server_real_servers",
        help: "Real servers configured for the virtual service.",
        kind: MetricType::Gauge,
        value: |r| Value::Gauge(r.real_servers as i64),
    },
    RowFamily {
        name: "lvsd_virtual_server_real_servers_up",
        help: "Real servers of the virtual service that pass their checks.",
        kind: MetricType::Gauge,
        value: |r| Value::Gauge(r.up as i64),
    },
    RowFamily {
        name: "lvsd_virtual_server_quorum_up",
        help: "Whether the virtual service has its quorum (1) or not (0).",
        kind: MetricType::Gauge,
        value: |r| Value::Gauge(i64::from(r.quorum_up)),
    },
];

/// Rows `range` of one family, as a collector.
struct Piece<R: 'static> {
    family: &'static RowFamily<R>,
    rows: Arc<[R]>,
    range: std::ops::Range<usize>,
}

impl<R: 'static> std::fmt::Debug for Piece<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Piece({}, {:?})", self.family.name, self.range)
    }
}

/// The rows' label set.
trait Labelled {
    fn labels(&self) -> &dyn ErasedLabels;
}

/// An [`EncodeLabelSet`] usable through `dyn`.
trait ErasedLabels {
    fn encode_into(
        &self,
        metric: &mut prometheus_client::encoding::MetricEncoder<'_>,
        value: &Value,
    ) -> Result<(), std::fmt::Error>;
}

impl<L: EncodeLabelSet + Copy> ErasedLabels for L {
    fn encode_into(
        &self,
        metric: &mut prometheus_client::encoding::MetricEncoder<'_>,
        value: &Value,
    ) -> Result<(), std::fmt::Error> {
        match value {
            Value::Gauge(v) => ConstGauge::new(*v).encode(metric.encode_family(self)?),
            Value::Transitions(up, down) => {
                ConstCounter::new(*up).encode(metric.encode_family(&(*self, [("to", "up")]))?)?;
                ConstCounter::new(*down).encode(metric.encode_family(&(*self, [("to", "down")]))?)
            }
        }
    }
}

impl Labelled for DestRow {
    fn labels(&self) -> &dyn ErasedLabels {
        &self.labels
    }
}

impl Labelled for ServiceRow {
    fn labels(&self) -> &dyn ErasedLabels {
        &self.labels
    }
}

impl<R: Labelled + Send + Sync + 'static> Collector for Piece<R> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let f = self.family;
        let mut metric = encoder.encode_descriptor(f.name, f.help, None, f.kind)?;
        for row in &self.rows[self.range.clone()] {
            row.labels().encode_into(&mut metric, &(f.value)(row))?;
        }
        Ok(())
    }
}

/// Encodes rows `range` of `family`: with its `# HELP`/`# TYPE` lines when
/// the range is the family's first.
fn encode_piece<R: Labelled + Send + Sync + 'static>(
    format: Format,
    family: &'static RowFamily<R>,
    rows: &Arc<[R]>,
    range: std::ops::Range<usize>,
    out: &mut String,
) {
    let first = range.start == 0;
    let mark = out.len();
    let piece = Piece {
        family,
        rows: Arc::clone(rows),
        range,
    };
    format.encode_collector(out, None, piece);
    if !first {
        // Drop the descriptor lines the encoder wrote: they all start with
        // "# " and come before the first sample.
        let body_at = out[mark..]
            .split_inclusive('\n')
            .take_while(|line| line.starts_with("# "))
            .map(str::len)
            .sum::<usize>();
        out.replace_range(mark..mark + body_at, "");
    }
}

/// Where the encoding of a snapshot is.
#[derive(Debug)]
pub struct Pieces {
    snapshot: Snapshot,
    /// 0: head; then each dest family, each service family; then `# EOF`.
    section: usize,
    row: usize,
    done: bool,
}

impl Pieces {
    /// The pieces of `snapshot`'s text.
    pub fn new(snapshot: Snapshot) -> Pieces {
        Pieces {
            snapshot,
            section: 0,
            row: 0,
            done: false,
        }
    }
}

impl Iterator for Pieces {
    type Item = String;

    /// The next piece of text (a family's rows are cut every
    /// [`ROWS_PER_PIECE`]).
    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let mut out = String::new();
        loop {
            let s = self.section;
            let dests = DEST_FAMILIES.len();
            let services = SERVICE_FAMILIES.len();
            if s == 0 {
                out = std::mem::take(&mut self.snapshot.head);
                self.section += 1;
                return Some(out);
            }
            let (len, end) = if s <= dests {
                (self.snapshot.dests.len(), self.row + ROWS_PER_PIECE)
            } else if s <= dests + services {
                (self.snapshot.services.len(), self.row + ROWS_PER_PIECE)
            } else {
                self.done = true;
                out.push_str(self.snapshot.format.end());
                return Some(out);
            };
            if self.row >= len {
                // Family done (or empty: no descriptor for no series).
                self.section += 1;
                self.row = 0;
                continue;
            }
            let range = self.row..end.min(len);
            self.row = range.end;
            out.reserve(range.len() * 160);
            if s <= dests {
                let f = &DEST_FAMILIES[s - 1];
                encode_piece(
                    self.snapshot.format,
                    f,
                    &self.snapshot.dests,
                    range,
                    &mut out,
                );
            } else {
                let f = &SERVICE_FAMILIES[s - 1 - dests];
                encode_piece(
                    self.snapshot.format,
                    f,
                    &self.snapshot.services,
                    range,
                    &mut out,
                );
            }
            return Some(out);
        }
    }
}

/// The whole text of a snapshot (tests, benches).
pub fn encode_all(snapshot: Snapshot) -> String {
    Pieces::new(snapshot).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Protocol, ServiceKey};

    fn snapshot(n: usize) -> Snapshot {
        let service = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let dests: Vec<DestRow> = (0..n)
            .map(|i| DestRow {
                labels: DestLabels {
                    service,
                    addr: std::net::IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]),
                    port: 8080,
                },
                up: i % 2 == 0,
                weight: 1,
                configured_weight: 1,
                to_up: 0,
                to_down: i as u64,
            })
            .collect();
        Snapshot {
            format: Format::OpenMetrics,
            head: "# HELP lvsd_x x.\n# TYPE lvsd_x gauge\nlvsd_x 1\n".into(),
            dests: dests.into(),
            services: vec![ServiceRow {
                labels: ServiceLabels(service),
                real_servers: n as u64,
                up: (n as u64).div_ceil(2),
                quorum_up: true,
            }]
            .into(),
        }
    }

    #[test]
    fn a_family_cut_in_pieces_has_one_descriptor_and_every_series() {
        let n = ROWS_PER_PIECE * 2 + 7;
        let text = encode_all(snapshot(n));
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# TYPE lvsd_real_server_up gauge").count(), 1);
        assert_eq!(text.matches("\nlvsd_real_server_up{").count(), n);
        assert_eq!(
            text.matches("# TYPE lvsd_real_server_transitions counter")
                .count(),
            1
        );
        assert_eq!(text.matches(",to=\"down\"} ").count(), n);
        assert!(text.contains("lvsd_virtual_server_real_servers_up{local_address=\"10.0.0.1\",local_port=\"80\",proto=\"TCP\",local_mark=\"\"} 516\n"));
        // Every line is a descriptor, a sample or the end.
        for line in text.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("lvsd_"),
                "{line}"
            );
        }
    }

    #[test]
    fn the_classic_text_format_has_no_eof_and_counters_typed_with_total() {
        let text = encode_all(Snapshot {
            format: Format::Text,
            ..snapshot(3)
        });
        assert!(!text.contains("# EOF"));
        assert!(text.contains("# TYPE lvsd_real_server_transitions_total counter\n"));
        assert_eq!(text.matches("\nlvsd_real_server_up{").count(), 3);
    }

    #[test]
    fn no_rows_no_family() {
        let text = encode_all(Snapshot::default());
        assert_eq!(text, "# EOF\n");
    }
}
