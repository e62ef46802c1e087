//! A `newc` cpio writer: the initramfs format the kernel unpacks at boot.
//!
//! Each entry is a 110-byte ASCII header (`070701` and 13 hex fields), the
//! NUL-terminated name and the data, both padded to 4 bytes; a `TRAILER!!!`
//! entry ends the archive. The kernel does not create parent folders, so
//! [`Archive`] emits every ancestor folder before its contents.

use std::collections::BTreeMap;

/// What one path in the guest's root is.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A regular file and its permission bits (e.g. `0o755`).
    File { data: Vec<u8>, mode: u32 },
    /// A symbolic link to `target`.
    Symlink { target: String },
    /// An (empty) folder.
    Dir,
}

/// A set of guest paths (absolute, `/`-separated) and what they are.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    /// Adds or replaces `path`.
    pub fn insert(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').trim_end_matches('/');
        self.entries.insert(path.to_string(), entry);
    }

    /// True when `path` is already in the archive.
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path.trim_start_matches('/'))
    }

    /// Serializes the archive, folders first so every parent exists.
    pub fn to_newc(&self) -> Vec<u8> {
        let mut dirs = std::collections::BTreeSet::new();
        for (path, entry) in &self.entries {
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                dirs.insert(parent.to_string());
                p = parent;
            }
            if matches!(entry, Entry::Dir) {
                dirs.insert(path.clone());
            }
        }
        let mut out = Vec::new();
        let mut ino = 1;
        for dir in &dirs {
            push(&mut out, ino, dir, 0o040755, &[]);
            ino += 1;
        }
        for (path, entry) in &self.entries {
            match entry {
                Entry::File { data, mode } => push(&mut out, ino, path, 0o100000 | mode, data),
                Entry::Symlink { target } => push(&mut out, ino, path, 0o120777, target.as_bytes()),
                Entry::Dir => continue,
            }
            ino += 1;
        }
        push(&mut out, 0, "TRAILER!!!", 0, &[]);
        out
    }
}

fn push(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        1, // nlink
        0, // mtime
        data.len() as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_and_trailer_last() {
        let mut a = Archive::default();
        a.insert(
            "/a/b/c",
            Entry::File {
                data: b"x".to_vec(),
                mode: 0o644,
            },
        );
        let bytes = a.to_newc();
        let text = String::from_utf8_lossy(&bytes);
        let (pa, pab, pabc) = (
            text.find("a\0").unwrap(),
            text.find("a/b\0").unwrap(),
            text.find("a/b/c\0").unwrap(),
        );
        assert!(pa < pab && pab < pabc);
        assert!(text.trim_end_matches('\0').ends_with("TRAILER!!!"));
        assert_eq!(bytes.len() % 4, 0);
    }
}
