//! The daemon's part of `track_file`: `init_file` at start, and the first
//! reading of every tracked file before the table is first written.
//!
//! `init_file [VALUE] [overwrite]` writes `VALUE\n` (default 0) to the file
//! as keepalived 2.2.7 does: at start when the file does not exist, or
//! always with `overwrite`; on a reload only when it does not exist (an
//! existing file is never overwritten by a reload); never under `-t`, which
//! does not start the daemon.
//!
//! The first reading ([`prime`]) gives each `FILE_CHECK` probe its verdict
//! before the table is planned, as keepalived reads the files before it
//! fills the table: a real server whose file says "down" is never added
//! just to be removed a few milliseconds later, when the watcher reports.

use std::io::Write;

use crate::checker::file_check;
use crate::config::{Check, TrackFile};
use crate::reconcile::Reconciler;

/// Writes the `init_file` values (see the module docs).
pub fn initialise(files: &[TrackFile], reloading: bool) {
    for file in files {
        let Some(init) = file.init else { continue };
        let exists = file.path.symlink_metadata().is_ok();
        if exists && (!init.overwrite || reloading) {
            continue;
        }
        let written =
            std::fs::File::create(&file.path).and_then(|mut f| writeln!(f, "{}", init.value));
        match written {
            Ok(()) => tracing::info!(
                track_file = %file.name,
                file = %file.path.display(),
                value = init.value,
                "init_file: written"
            ),
            Err(e) => tracing::error!(
                track_file = %file.name,
                file = %file.path.display(),
                error = %e,
                "init_file: cannot write the file"
            ),
        }
    }
}

/// Reads the file of every `FILE_CHECK` probe and gives the reconciler its
/// verdict (nothing to do without a `track_file`).
pub fn prime(reconciler: &mut Reconciler) {
    if reconciler.config().track_files.is_empty() {
        return;
    }
    for (spec, _) in reconciler.probes() {
        let Check::File(check) = &*spec.check else {
            continue;
        };
        // Out of range reads as 0 here, as for the watcher's first reading.
        let value = file_check::read(&check.path).unwrap_or(0);
        let result = file_check::result(check, value);
        reconciler.set_health(&spec, result.ok);
        if let Some(ask) = result.weight {
            reconciler.set_weight(&spec, ask);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{InitFile, Location};

    fn tracked(path: &std::path::Path, value: i32, overwrite: bool) -> TrackFile {
        TrackFile {
            name: "t".into(),
            path: path.to_path_buf(),
            weight: 1,
            reverse: false,
            init: Some(InitFile { value, overwrite }),
            location: Location::default(),
        }
    }

    #[test]
    fn init_file_creates_at_start_overwrites_only_when_asked_and_never_on_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let read = || std::fs::read_to_string(&path).unwrap();
        initialise(&[tracked(&path, 7, false)], false);
        assert_eq!(read(), "7\n", "created at start");
        initialise(&[tracked(&path, 8, false)], false);
        assert_eq!(read(), "7\n", "exists: not overwritten");
        initialise(&[tracked(&path, 9, true)], true);
        assert_eq!(read(), "7\n", "a reload never overwrites");
        initialise(&[tracked(&path, -3, true)], false);
        assert_eq!(read(), "-3\n", "overwrite at start");
        std::fs::remove_file(&path).unwrap();
        initialise(&[tracked(&path, 4, false)], true);
        assert_eq!(
            read(),
            "4\n",
            "a reload creates a missing file, as keepalived"
        );
    }
}
