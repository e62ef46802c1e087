//! The BFD thread's late wake-ups, from lvsd's warnings (`BFD thread woke
//! late … late_ms=… run_delay_ms=…`): how many, how late, and how much of
//! it the thread spent waiting for a CPU (the scheduler's `run_delay`)
//! rather than not runnable.

/// The late wake-ups seen: (late_ms, run_delay_ms).
#[derive(Default)]
pub struct LateWakes(Vec<(f64, f64)>);

/// A field of a log line (`late_ms=85.3`), as a number.
fn field(line: &str, name: &str) -> Option<f64> {
    let key = format!("{name}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&key))
        .and_then(|v| v.parse().ok())
}

impl LateWakes {
    /// Keeps `line` if it is a late wake-up's warning; whether it was.
    pub fn note(&mut self, line: &str) -> bool {
        if !line.contains("BFD thread woke late") {
            return false;
        }
        if let Some(late) = field(line, "late_ms") {
            self.0
                .push((late, field(line, "run_delay_ms").unwrap_or(f64::NAN)));
        }
        true
    }

    /// One line: how many, how many over 50 ms, the worst, and the share
    /// of the lateness that was waiting for a CPU.
    pub fn summary(&self, seconds: f64) -> String {
        let over = |ms: f64| self.0.iter().filter(|(l, _)| *l > ms).count();
        let worst = self.0.iter().copied().max_by(|a, b| a.0.total_cmp(&b.0));
        let (late, queued) = self
            .0
            .iter()
            .fold((0.0, 0.0), |(l, q), (late, run)| (l + late, q + run));
        let worst = worst.map_or("none".into(), |(l, r)| {
            format!("{l:.1} ms late with run_delay {r:.1} ms")
        });
        format!(
            "late wake-ups of lvsd's BFD thread in {seconds:.0} s: {} (> 50 ms: {}); worst {worst}; \
             run_delay / lateness summed over them {:.2}",
            self.0.len(),
            over(50.0),
            if late > 0.0 { queued / late } else { 0.0 },
        )
    }
}
