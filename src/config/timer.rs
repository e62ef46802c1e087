//! [`Timer`]: a `<TIMER>` setting (`delay_loop`, `connect_timeout`...) in
//! eight bytes.
//!
//! keepalived reads timers as seconds with up to six decimals: microseconds
//! are its resolution, and a count of them fits a `u64` whatever the value
//! (at most `u32::MAX` seconds). A [`Duration`] would hold the same in
//! sixteen bytes; every checker of a config has four timers, and a config
//! may have 100,000 checkers, each compared in full on every reload. So a
//! checker keeps its timers as microseconds and hands them out as
//! `Duration`s ([`Timer::duration`]).
//!
//! A timer prints (`Debug`) as the `Duration` it stands for, and serialises
//! (`--dump-config`, the state dump) as keepalived's configs write it: a
//! number of seconds, `6` or `0.5` ([`seconds`] does the same for the few
//! settings kept as `Duration`s).

use std::time::Duration;

use serde::Serialize;

/// A timer setting: a whole number of microseconds.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timer(u64);

impl Timer {
    /// `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Timer {
        Timer(micros)
    }

    /// `secs` seconds.
    pub const fn from_secs(secs: u32) -> Timer {
        Timer(secs as u64 * 1_000_000)
    }

    /// The timer as a `Duration`.
    pub const fn duration(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// Microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
}

/// A `Duration` to the microsecond below it (timers read from a config are
/// whole microseconds already); beyond `u64::MAX` microseconds, that.
impl From<Duration> for Timer {
    fn from(d: Duration) -> Timer {
        Timer(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

impl From<Timer> for Duration {
    fn from(t: Timer) -> Duration {
        t.duration()
    }
}

impl PartialEq<Duration> for Timer {
    fn eq(&self, other: &Duration) -> bool {
        self.duration() == *other
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.duration(), f)
    }
}

impl Serialize for Timer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        seconds::serialize(&self.duration(), serializer)
    }
}

/// A `Duration` serialised as a number of seconds: whole seconds as an
/// integer, anything finer as a decimal (`#[serde(serialize_with =
/// "seconds::serialize")]`, or [`seconds::option`] for an `Option`).
pub mod seconds {
    use std::time::Duration;

    /// `d` in seconds.
    pub fn serialize<S: serde::Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos() == 0 {
            serializer.serialize_u64(d.as_secs())
        } else {
            serializer.serialize_f64(d.as_secs_f64())
        }
    }

    /// `d` in seconds, or `null`.
    pub fn option<S: serde::Serializer>(
        d: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => serialize(d, serializer),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timer reads and prints as the `Duration` it came from, and
    /// serialises as seconds.
    #[test]
    fn reads_as_its_duration() {
        for d in [
            Duration::ZERO,
            Duration::from_micros(1),
            Duration::from_millis(2500),
            Duration::from_secs(u64::from(u32::MAX)) + Duration::from_micros(999_999),
        ] {
            let t = Timer::from(d);
            assert_eq!(t.duration(), d);
            assert_eq!(Duration::from(t), d);
            assert_eq!(t, d);
            assert_eq!(format!("{t:?}"), format!("{d:?}"));
        }
        let json = |t: Timer| serde_json::to_string(&t).unwrap();
        assert_eq!(json(Timer::from_secs(6)), "6");
        assert_eq!(json(Timer::from_micros(2_500_000)), "2.5");
        assert_eq!(json(Timer::from_micros(1)), "1e-6");
        assert_eq!(json(Timer::from_secs(0)), "0");
        assert_eq!(Timer::from_secs(5), Duration::from_secs(5));
        assert_eq!(Timer::from_micros(1_500_000).as_micros(), 1_500_000);
        assert_eq!(std::mem::size_of::<Timer>(), 8);
    }
}
