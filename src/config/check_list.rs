//! [`Checks`]: the health checks of one real server.
//!
//! A config may have 100,000 real servers and nearly every one has exactly
//! one checker, so the list keeps a single checker inline and only two or
//! more in a buffer of their own. It reads as a slice of `Arc<Check>`, and
//! compares, prints and serialises as that slice does.

use std::sync::Arc;

use serde::Serialize;

use super::Check;

/// A real server's health checks, read as a slice of `Arc<Check>`.
///
/// Nearly every real server has exactly one checker, so a single one is
/// kept inline rather than in a buffer of its own: with 100,000 real
/// servers that is 100,000 allocations (and some 4 MB) fewer than a `Vec`.
#[derive(Clone, Default)]
pub struct Checks(ChecksRepr);

#[derive(Clone)]
enum ChecksRepr {
    One(Arc<Check>),
    /// None, or two and more.
    Many(Box<[Arc<Check>]>),
}

impl Default for ChecksRepr {
    fn default() -> Self {
        ChecksRepr::Many(Box::default())
    }
}

impl std::ops::Deref for Checks {
    type Target = [Arc<Check>];

    fn deref(&self) -> &[Arc<Check>] {
        match &self.0 {
            ChecksRepr::One(check) => std::slice::from_ref(check),
            ChecksRepr::Many(checks) => checks,
        }
    }
}

impl std::ops::DerefMut for Checks {
    fn deref_mut(&mut self) -> &mut [Arc<Check>] {
        match &mut self.0 {
            ChecksRepr::One(check) => std::slice::from_mut(check),
            ChecksRepr::Many(checks) => checks,
        }
    }
}

impl From<Arc<Check>> for Checks {
    fn from(check: Arc<Check>) -> Self {
        Checks(ChecksRepr::One(check))
    }
}

impl From<Vec<Arc<Check>>> for Checks {
    fn from(mut checks: Vec<Arc<Check>>) -> Self {
        match (checks.len(), checks.pop()) {
            (1, Some(check)) => check.into(),
            (_, last) => {
                checks.extend(last);
                Checks(ChecksRepr::Many(checks.into_boxed_slice()))
            }
        }
    }
}

impl FromIterator<Arc<Check>> for Checks {
    fn from_iter<I: IntoIterator<Item = Arc<Check>>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<_>>().into()
    }
}

impl<'a> IntoIterator for &'a Checks {
    type Item = &'a Arc<Check>;
    type IntoIter = std::slice::Iter<'a, Arc<Check>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The same checks written at the same places: a check alone compares as
/// the probe it makes, wherever written (see [`super::CheckCommon`]), but a
/// config whose checks moved is not the same config. Two single checkers
/// (nearly every real server's) compare directly, without going through
/// slices: a reload compares every real server of the old config with the
/// new one's.
impl PartialEq for Checks {
    fn eq(&self, other: &Checks) -> bool {
        let same =
            |a: &Arc<Check>, b: &Arc<Check>| Arc::ptr_eq(a, b) || a.same_and_at_same_place(b);
        match (&self.0, &other.0) {
            (ChecksRepr::One(a), ChecksRepr::One(b)) => same(a, b),
            _ => {
                self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| same(a, b))
            }
        }
    }
}

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Checks {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckCommon, TcpCheck};

    fn tcp(port: u16) -> Arc<Check> {
        Arc::new(Check::Tcp(TcpCheck {
            common: CheckCommon::new("10.0.0.1".parse().unwrap(), port),
        }))
    }

    /// Whatever its size, a list reads, compares, prints and serialises as
    /// the `Vec` it was made from.
    #[test]
    fn reads_as_the_vec_it_was_made_from() {
        for n in 0..4 {
            let vec: Vec<Arc<Check>> = (0..n).map(|i| tcp(80 + i)).collect();
            let checks = Checks::from(vec.clone());
            assert_eq!(&checks[..], &vec[..]);
            assert_eq!(checks.len(), vec.len());
            assert_eq!(checks, vec.iter().cloned().collect::<Checks>());
            assert_eq!(format!("{checks:?}"), format!("{vec:?}"));
            assert_eq!(
                serde_json::to_string(&checks).unwrap(),
                serde_json::to_string(&vec).unwrap()
            );
            assert_eq!((&checks).into_iter().count(), vec.len());
        }
        assert!(Checks::default().is_empty());
        assert_ne!(Checks::from(tcp(80)), Checks::from(tcp(81)));
    }

    /// One checker costs no allocation beyond the checker itself.
    #[test]
    fn one_checker_is_kept_inline() {
        assert_eq!(std::mem::size_of::<Checks>(), 16);
        let check = tcp(80);
        let checks = Checks::from(vec![check.clone()]);
        assert!(matches!(&checks.0, ChecksRepr::One(c) if Arc::ptr_eq(c, &check)));
    }
}
