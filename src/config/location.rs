//! [`Location`]: where something was read (file:line:col), in 12 bytes.
//!
//! A config with 100,000 real servers holds 200,000 locations (each real
//! server's and each checker's), and nearly all name the same file. So a
//! location names its file by a [`FileName`], a 4-byte number, rather than
//! by a shared pointer to the path: no reference count to raise when a
//! location is made or to lower when it is dropped, and a location is
//! `Copy`.
//!
//! The numbers index one table for the whole process, to which each file is
//! added the first time a config names it. A path is never removed (a
//! reload that reads the same files finds them there), so the table only
//! grows with the number of distinct file names ever read: a few, for a
//! daemon. That is what lets a location print its file wherever it is, with
//! nothing else at hand.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use serde::Serialize;

/// A config file's name, interned: `Deref`s to its [`Path`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileName(u32);

/// Every file name interned so far: `paths[n - 1]` is `FileName(n)`'s
/// (`FileName(0)`, the default, is the empty path), and `ids` finds a
/// path's number. Keyed by the name's bytes, not by `Path`'s equality,
/// which ignores repeated or trailing slashes: a file named `a//b.conf`
/// keeps that name, even after one named `a/b.conf`.
#[derive(Default)]
struct Table {
    paths: Vec<&'static Path>,
    ids: HashMap<&'static OsStr, u32>,
}

static TABLE: RwLock<Option<Table>> = RwLock::new(None);

impl FileName {
    /// The number of `path`, added to the table if it is not there yet.
    ///
    /// Each distinct path is stored once for the life of the process (see
    /// the module documentation).
    pub fn intern(path: &Path) -> FileName {
        if path.as_os_str().is_empty() {
            return FileName(0);
        }
        let known = TABLE
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|t| t.ids.get(path.as_os_str()).copied());
        if let Some(id) = known {
            return FileName(id);
        }
        let mut guard = TABLE.write().unwrap_or_else(PoisonError::into_inner);
        let table = guard.get_or_insert_with(Table::default);
        if let Some(&id) = table.ids.get(path.as_os_str()) {
            return FileName(id);
        }
        let stored: &'static Path = Box::leak(path.to_path_buf().into_boxed_path());
        table.paths.push(stored);
        let id = table.paths.len() as u32;
        table.ids.insert(stored.as_os_str(), id);
        FileName(id)
    }

    /// The path this number stands for.
    pub fn path(self) -> &'static Path {
        let index = match self.0.checked_sub(1) {
            Some(i) => i as usize,
            None => return Path::new(""),
        };
        TABLE
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|t| t.paths.get(index).copied())
            .unwrap_or(Path::new(""))
    }
}

impl std::ops::Deref for FileName {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.path()
    }
}

impl From<&Path> for FileName {
    fn from(path: &Path) -> Self {
        FileName::intern(path)
    }
}

impl From<PathBuf> for FileName {
    fn from(path: PathBuf) -> Self {
        FileName::intern(&path)
    }
}

/// Printed and serialised as the path it stands for, so that a location
/// reads as it did when it held the path itself.
impl std::fmt::Debug for FileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.path(), f)
    }
}

impl Serialize for FileName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.path().serialize(serializer)
    }
}

/// Where something was read: file, line and column (1-based).
///
/// Compares and hashes as what it is: two locations are equal when they
/// name the same place. A config read again after lines moved is a
/// different config (its state dump shows the new lines). What must not
/// depend on where it was written says so itself: a check compares as the
/// probe it makes ([`super::CheckCommon`]), a `bfd_instance` as the session
/// it runs ([`super::BfdInstance`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    /// The file, as it was named (after include resolution).
    pub file: FileName,
    /// Line, 1-based.
    pub line: u32,
    /// Column, 1-based.
    pub col: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name reads back as the path it was made from, the same path gets
    /// the same number, and the default is the empty path.
    #[test]
    fn names_read_back_as_their_paths() {
        let a = FileName::intern(Path::new("/etc/keepalived/location-test-a.conf"));
        let b = FileName::intern(Path::new("/etc/keepalived/location-test-b.conf"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            FileName::from(PathBuf::from("/etc/keepalived/location-test-a.conf"))
        );
        assert_eq!(&*a, Path::new("/etc/keepalived/location-test-a.conf"));
        assert_eq!(b.path(), Path::new("/etc/keepalived/location-test-b.conf"));
        assert_eq!(FileName::default().path(), Path::new(""));
        assert_eq!(FileName::intern(Path::new("")), FileName::default());
        // Spelled differently, the same file to `Path`: two names.
        let single = FileName::intern(Path::new("/etc/location-test/x.conf"));
        let double = FileName::intern(Path::new("/etc/location-test//x.conf"));
        assert_ne!(single, double);
        assert_eq!(double.as_os_str(), "/etc/location-test//x.conf");
    }

    /// Locations compare as the places they name; a check compares as the
    /// probe it makes, wherever written.
    #[test]
    fn locations_compare_as_places_and_checks_as_probes() {
        let file = FileName::intern(Path::new("/etc/keepalived/location-test-eq.conf"));
        let at = |line| Location { file, line, col: 3 };
        assert_eq!(at(4), at(4));
        assert_ne!(at(4), at(5));
        let other = FileName::intern(Path::new("/etc/keepalived/location-test-other.conf"));
        assert_ne!(
            at(4),
            Location {
                file: other,
                ..at(4)
            }
        );
        let check = |line| crate::config::CheckCommon {
            location: at(line),
            ..crate::config::CheckCommon::new("192.0.2.1".parse().unwrap(), 80)
        };
        assert_eq!(check(4), check(9));
        let hash = |c: &crate::config::CheckCommon| {
            std::hash::BuildHasher::hash_one(&rustc_hash::FxBuildHasher, c)
        };
        assert_eq!(hash(&check(4)), hash(&check(9)));
        assert_ne!(
            check(4),
            crate::config::CheckCommon {
                retry: 7,
                ..check(4)
            }
        );
        // A real server's checks compare where they were written, too.
        let checks = |line| {
            let tcp = crate::config::TcpCheck {
                common: check(line),
            };
            crate::config::Checks::from(vec![std::sync::Arc::new(crate::config::Check::Tcp(tcp))])
        };
        assert_eq!(checks(4), checks(4));
        assert_ne!(checks(4), checks(9));
    }

    /// A location prints, debugs and serialises with its file's path.
    #[test]
    fn location_shows_its_path() {
        let loc = Location {
            file: FileName::intern(Path::new("dir/k.conf")),
            line: 3,
            col: 7,
        };
        assert_eq!(loc.to_string(), "dir/k.conf:3:7");
        assert_eq!(
            format!("{loc:?}"),
            r#"Location { file: "dir/k.conf", line: 3, col: 7 }"#
        );
        assert_eq!(
            serde_json::to_string(&loc).unwrap(),
            r#"{"file":"dir/k.conf","line":3,"col":7}"#
        );
        assert_eq!(std::mem::size_of::<Location>(), 12);
    }
}
