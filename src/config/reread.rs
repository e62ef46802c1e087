//! [`Rereader`]: reload a config whose files did not change without typing
//! it again.
//!
//! A reload reads the config anew, and most reloads find it as it was
//! (configuration management sends SIGHUP whether or not it changed
//! anything). Reading the files and comparing them with the last read is
//! cheap: for 100,000 real servers some 10M instructions (reading 10 MB,
//! checking it is UTF-8, finding its `include` lines, one `memcmp`), where
//! the preprocessor, parser and typing pass cost some 320M and the
//! comparison of the two models and the drop of the new one 43M more.
//!
//! The front end is a function of: every file read (its name and bytes,
//! includes in the order they were read, so a glob that now finds another
//! file is a change), the config id (`-i`, else the host name), and
//! nothing else, except `$_RANDOM` parameters, which draw a new number on
//! each read. So the same files, the same id and no `$_RANDOM` in the last
//! read mean the same [`Config`](super::Config) and the same diagnostics:
//! [`Reread::Unchanged`], and the caller keeps what it has.
//!
//! The price is a copy of the files' text kept between reloads (10 MB for
//! 100,000 real servers).

use std::path::{Path, PathBuf};

use super::diagnostic::{ConfigError, LoadOptions, Loaded};
use super::load::{read_main_file, read_sources, type_sources, ReadSources};

/// What [`Rereader::load`] found.
#[derive(Debug)]
pub enum Reread {
    /// The same files and config id as the last successful read: the
    /// config is the one that read gave.
    Unchanged,
    /// Something changed (or there was no successful read before): the
    /// config, read in full (boxed: it is much bigger than `Unchanged`).
    Read(Box<Loaded>),
}

/// Reads a config, remembering the files of its last successful read.
#[derive(Debug, Default)]
pub struct Rereader {
    last: Option<Snapshot>,
}

/// What the front end's result depends on.
#[derive(Debug, PartialEq)]
struct Snapshot {
    config_id: String,
    /// Every file in the order it was read: name and text.
    files: Vec<(PathBuf, String)>,
}

impl Snapshot {
    /// Whether `read` has the same config id and files.
    fn matches(&self, read: &ReadSources) -> bool {
        self.config_id == read.config_id
            && self.files.len() == read.sources.files.len()
            && self
                .files
                .iter()
                .zip(&read.sources.files)
                .all(|((path, text), f)| *path == f.path && *text == f.text)
    }

    /// The snapshot of `read`, taking its texts.
    fn take(read: ReadSources) -> Snapshot {
        Snapshot {
            config_id: read.config_id,
            files: read
                .sources
                .files
                .into_iter()
                .map(|f| (f.path, f.text))
                .collect(),
        }
    }
}

impl Rereader {
    /// A reader with no read behind it: its first [`Rereader::load`] reads.
    pub fn new() -> Self {
        Rereader::default()
    }

    /// Read `path` as [`super::load`] does, unless its files and the
    /// config id are those of the last successful read through this
    /// reader (see the module documentation).
    pub fn load(&mut self, path: &Path, opts: &LoadOptions) -> Result<Reread, ConfigError> {
        let read = read_sources(path, read_main_file(path)?, opts);
        if self.last.as_ref().is_some_and(|last| last.matches(&read)) {
            return Ok(Reread::Unchanged);
        }
        self.last = None;
        let (result, used_random) = type_sources(path, &read);
        if result.is_ok() && !used_random {
            self.last = Some(Snapshot::take(read));
        }
        result.map(|loaded| Reread::Read(Box::new(loaded)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n include rs.inc\n}\n";
    const RS: &str = " real_server 10.0.0.2 80 {\n  TCP_CHECK {\n  }\n }\n";

    fn read(r: &mut Rereader, path: &Path, id: &str) -> Reread {
        let opts = LoadOptions {
            config_id: Some(id.into()),
        };
        r.load(path, &opts).unwrap()
    }

    fn real_servers(reread: &Reread) -> Option<usize> {
        match reread {
            Reread::Unchanged => None,
            Reread::Read(l) => Some(l.config.virtual_servers[0].real_servers.len()),
        }
    }

    /// The same files and id read as unchanged; a change in the main
    /// file, an included one or the id reads in full.
    #[test]
    fn unchanged_files_are_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepalived.conf");
        std::fs::write(&path, CONFIG).unwrap();
        std::fs::write(dir.path().join("rs.inc"), RS).unwrap();
        let mut r = Rereader::new();
        assert_eq!(real_servers(&read(&mut r, &path, "a")), Some(1));
        assert_eq!(real_servers(&read(&mut r, &path, "a")), None);
        // The included file changes.
        let two = format!("{RS}{}", RS.replace("10.0.0.2", "10.0.0.3"));
        std::fs::write(dir.path().join("rs.inc"), &two).unwrap();
        assert_eq!(real_servers(&read(&mut r, &path, "a")), Some(2));
        assert_eq!(real_servers(&read(&mut r, &path, "a")), None);
        // Another config id.
        assert_eq!(real_servers(&read(&mut r, &path, "b")), Some(2));
        assert_eq!(real_servers(&read(&mut r, &path, "b")), None);
        // The main file changes (one byte: a comment).
        std::fs::write(&path, format!("{CONFIG}#\n")).unwrap();
        assert_eq!(real_servers(&read(&mut r, &path, "b")), Some(2));
    }

    /// A read that failed, or that drew `$_RANDOM` numbers, is not
    /// remembered: the next one reads in full.
    #[test]
    fn failed_or_random_reads_are_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepalived.conf");
        std::fs::write(dir.path().join("rs.inc"), RS).unwrap();
        std::fs::write(&path, CONFIG.replace("lb_kind NAT", "lb_kind NOPE")).unwrap();
        let mut r = Rereader::new();
        let opts = LoadOptions::default();
        assert!(r.load(&path, &opts).is_err());
        assert!(r.load(&path, &opts).is_err());
        let random = CONFIG.replace(
            "protocol TCP",
            "protocol TCP\n persistence_timeout ${_RANDOM 1 9}",
        );
        std::fs::write(&path, random).unwrap();
        assert!(matches!(r.load(&path, &opts), Ok(Reread::Read(_))));
        assert!(matches!(r.load(&path, &opts), Ok(Reread::Read(_))));
        std::fs::write(&path, CONFIG).unwrap();
        assert!(matches!(r.load(&path, &opts), Ok(Reread::Read(_))));
        assert!(matches!(r.load(&path, &opts), Ok(Reread::Unchanged)));
    }
}
