//! Whether every probe has given its first verdict.
//!
//! Until then the health lvsd acts on is partly the initial one (`alpha`,
//! or what a restart adopted from the kernel), not a verdict. The moment the
//! last probe reports is worth a line in the log: from then on the table
//! reflects checks only. A reload keeps what it knew of the probes that stay;
//! only new probes have a first verdict to give.

/// Which probes, by id, have reported at least once.
#[derive(Debug, Default)]
pub struct FirstRound {
    seen: Vec<bool>,
    missing: usize,
    /// Whether the completion was already announced for this config.
    announced: bool,
}

impl FirstRound {
    /// Start a new probe list; `seen` says, for each probe in id order,
    /// whether it reported under the previous config.
    pub fn new(seen: Vec<bool>) -> Self {
        let missing = seen.iter().filter(|s| !**s).count();
        FirstRound {
            seen,
            missing,
            announced: missing == 0,
        }
    }

    /// Whether probe `id` has reported.
    pub fn seen(&self, id: usize) -> bool {
        self.seen.get(id).copied().unwrap_or(false)
    }

    /// Probe `id` gave a verdict.
    pub fn report(&mut self, id: usize) {
        if let Some(seen) = self.seen.get_mut(id) {
            if !*seen {
                *seen = true;
                self.missing -= 1;
            }
        }
    }

    /// How many probes have not reported yet.
    pub fn missing(&self) -> usize {
        self.missing
    }

    /// True once, when the last probe has given its first verdict.
    pub fn just_completed(&mut self) -> bool {
        if self.missing == 0 && !self.announced {
            self.announced = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_once_when_the_last_probe_reports() {
        let mut r = FirstRound::new(vec![true, false, false]);
        assert!(!r.just_completed());
        r.report(1);
        r.report(1);
        assert!(!r.just_completed());
        r.report(2);
        r.report(7);
        assert!(r.just_completed());
        assert!(!r.just_completed(), "announced once");
        assert!(r.seen(0) && r.seen(2) && !r.seen(7));
        assert_eq!(r.missing(), 0);
        assert_eq!(FirstRound::new(vec![false, true, false]).missing(), 2);
        assert!(
            !FirstRound::new(vec![true]).just_completed(),
            "nothing new to wait for"
        );
    }
}
