//! The `process_*` series every Prometheus client library exports (start
//! time, CPU, resident memory, open files), read from `/proc/self` at
//! scrape time; prometheus-client ships none.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

/// This process, as read now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Process {
    /// When it started, Unix time.
    pub start_time: f64,
    /// User and system CPU, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub resident_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The open file limit (soft).
    pub max_fds: u64,
}

impl Process {
    /// Reads `/proc/self`; `None` if it cannot (no /proc).
    pub fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let btime: f64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        Process::from_stat(&stat, btime, open_fds, max_fds)
    }

    /// From the text of `/proc/self/stat` and the boot time.
    fn from_stat(stat: &str, btime: f64, open_fds: u64, max_fds: u64) -> Option<Process> {
        // The fields after the command name, which may hold spaces.
        let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
        let number = |i: usize| fields.get(i)?.parse::<f64>().ok();
        let tick = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as f64;
        // utime, stime, starttime and rss are fields 14, 15, 22 and 24 of
        // proc(5), counted from 1 with the pid and the name.
        Some(Process {
            start_time: btime + number(19)? / tick,
            cpu_seconds: (number(11)? + number(12)?) / tick,
            resident_bytes: (number(21)? * page) as u64,
            open_fds,
            max_fds,
        })
    }
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = |e: &mut DescriptorEncoder, name, help, unit, v: f64| {
            let metric = e.encode_descriptor(name, help, unit, MetricType::Gauge)?;
            ConstGauge::new(v).encode(metric)
        };
        gauge(
            &mut encoder,
            "process_start_time",
            "Start time of the process since the Unix epoch.",
            Some(&Unit::Seconds),
            self.start_time,
        )?;
        let cpu = encoder.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time spent.",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        ConstCounter::new(self.cpu_seconds).encode(cpu)?;
        gauge(
            &mut encoder,
            "process_resident_memory",
            "Resident memory size.",
            Some(&Unit::Bytes),
            self.resident_bytes as f64,
        )?;
        gauge(
            &mut encoder,
            "process_open_fds",
            "Number of open file descriptors.",
            None,
            self.open_fds as f64,
        )?;
        gauge(
            &mut encoder,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            None,
            self.max_fds as f64,
        )
    }
}

/// Appends this process's series to `out` in `format` (nothing if `/proc`
/// cannot be read).
pub fn encode(out: &mut String, format: super::snapshot::Format) {
    if let Some(process) = Process::read() {
        format.encode_collector(out, None, process);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let p = Process::read().expect("/proc/self");
        assert!(p.open_fds >= 3 && p.open_fds <= p.max_fds);
        assert!(p.resident_bytes > 1 << 20);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(p.start_time <= now + 1.0 && p.start_time > now - 3600.0 * 24.0);
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_is_skipped() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1000 1000000 300 18446744073709551615";
        let p = Process::from_stat(stat, 1000.0, 5, 1024).unwrap();
        let tick = rustix::param::clock_ticks_per_second() as f64;
        assert_eq!(p.cpu_seconds, 300.0 / tick);
        assert_eq!(p.start_time, 1000.0 + 1000.0 / tick);
    }
}
