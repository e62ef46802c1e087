//! lvsd's runtime directory, `/run/lvsd` (or systemd's `$RUNTIME_DIRECTORY`
//! when the unit has `RuntimeDirectory=`): where the state dump and the
//! instance lock live, and how a file is written there without anyone
//! being able to redirect the write.
//!
//! A file written by root in a directory others can write to (`/tmp`) is a
//! classic trap: a user plants a symlink at the name and root overwrites
//! whatever it points to. [`write_privately`] never opens an existing name:
//! it creates a fresh file under a random name with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` (which fails on anything already there,
//! a symlink included), mode 0600, writes it, and renames it over the
//! final name. A rename replaces a symlink at the final name; it never
//! follows it.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, CWD};

/// The runtime directory: the first of `$RUNTIME_DIRECTORY` (set by
/// systemd for `RuntimeDirectory=`), else `/run/lvsd`.
pub fn runtime_dir() -> PathBuf {
    std::env::var_os("RUNTIME_DIRECTORY")
        .and_then(|dirs| {
            let dirs = dirs.to_string_lossy().into_owned();
            dirs.split(':').find(|d| !d.is_empty()).map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("/run/lvsd"))
}

/// Create `dir` (one level, mode 0755) unless it exists.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    match rustix::fs::mkdirat(CWD, dir, Mode::from_raw_mode(0o755)) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    }
    .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())))
}

/// Write `bytes` to `path` as a new file of mode 0600, never through a
/// link (see the module documentation). The directory is created if it
/// is missing (see [`ensure_dir`]).
pub fn write_privately(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_new(path, bytes, 0o600)
}

/// [`write_privately`] with another mode (a pid file others may read).
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} names no file", path.display())))?;
    ensure_dir(dir)?;
    write_in(dir, name, bytes, mode)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

/// [`write_new`]'s work in `dir`, which exists: a fresh file under a random
/// name, renamed over `name`.
fn write_in(dir: &Path, name: &OsStr, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir_fd = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut attempts = 0;
    let (tmp, fd) = loop {
        let tmp = format!(
            ".{}.{:016x}.tmp",
            name.to_string_lossy(),
            rand::random::<u64>()
        );
        match rustix::fs::openat(&dir_fd, &tmp, flags, Mode::from_raw_mode(mode)) {
            Ok(fd) => break (tmp, fd),
            // Someone else's file at that name: never touch it, pick another.
            Err(rustix::io::Errno::EXIST) if attempts < 8 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let written = (|| {
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)?;
        file.sync_data()?;
        rustix::fs::renameat(&dir_fd, &tmp, &dir_fd, name)?;
        Ok(())
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(&dir_fd, &tmp, AtFlags::empty());
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_symlink_at_the_path_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("state.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_privately(&path, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        // Nothing left behind but the two files and the victim.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn a_write_that_fails_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("run");
        std::fs::write(&not_a_dir, "").unwrap();
        let path = not_a_dir.join("lvsd.pid");
        let err = write_new(&path, b"1", 0o644).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot write {}: ", path.display())),
            "{err}"
        );
    }

    #[test]
    fn a_missing_directory_is_made_0755() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvsd").join("state.json");
        write_privately(&path, b"x").unwrap();
        let meta = std::fs::metadata(dir.path().join("lvsd")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o755 & !umask());
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
    }

    fn umask() -> u32 {
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = text.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
    }
}
