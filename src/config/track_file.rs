//! The global `track_file NAME { ... }` block (and its deprecated alias
//! `vrrp_track_file`), with keepalived 2.2.7's ranges:
//!
//! ```text
//! track_file NAME {
//!     file PATH                     # required; a second `file` is ignored
//!     weight W [reverse]            # -254..254, default 1
//!     init_file [VALUE] [overwrite] # write VALUE (default 0) at start
//! }
//! ```
//!
//! A `FILE_CHECK` names a track_file defined *before* it (keepalived looks
//! the name up as it reads the check). The directory of `file` must exist:
//! inotify watches the directory, not the file, so a file that does not
//! exist yet is fine, a directory that does not is an error.

use std::path::{Path, PathBuf};

use super::block::{Tok, Tree};
use super::keywords::TrackFileKw;
use super::typer::Typer;
use super::{values, InitFile, TrackFile};

/// keepalived's range for a track_file's `weight` (and the sensible range
/// of an `init_file` value, outside of which it only warns).
pub const TRACK_FILE_WEIGHT: std::ops::RangeInclusive<i64> = -254..=254;

impl Typer<'_> {
    /// Type a `track_file` (or `vrrp_track_file`) block at node `node`.
    pub fn track_file(&mut self, tree: &Tree<'_>, node: u32) {
        let kw = tree.keyword(node).clone();
        if kw.text == "vrrp_track_file" {
            self.info(&kw, "`vrrp_track_file` is deprecated: read as `track_file`");
        }
        self.max_args(tree, node, 1);
        let Some(name) = self.string_arg(tree, node, "a name") else {
            return;
        };
        let mut path: Option<PathBuf> = None;
        let mut weight: Option<(i32, bool)> = None;
        let mut init = None;
        let mut init_at = None;
        for child in tree.children(node) {
            let ckw = tree.keyword(child).clone();
            let Some(which) = TrackFileKw::from_name(&ckw.text) else {
                self.unknown(&ckw, "in track_file");
                continue;
            };
            self.no_block(tree, child);
            match which {
                TrackFileKw::File => self.track_file_path(tree, child, &name, &mut path),
                TrackFileKw::Weight => self.track_file_weight(tree, child, &name, &mut weight),
                TrackFileKw::InitFile => {
                    init = self.init_file(tree, child);
                    init_at = Some(ckw);
                }
            }
        }
        let Some(path) = path else {
            self.error(&kw, format!("track_file `{name}` needs `file PATH`"));
            return;
        };
        self.init_target_is_a_file(init.as_ref(), init_at.as_ref(), &path);
        if self.config.track_files.iter().any(|t| t.name == name) {
            self.warning(
                &kw,
                format!("track_file `{name}` is defined again: the first definition is used"),
            );
            return;
        }
        let (weight, reverse) = weight.unwrap_or((1, false));
        let location = self.loc(&kw);
        self.config.track_files.push(TrackFile {
            name,
            path,
            weight,
            reverse,
            init,
            location,
        });
    }

    /// `file PATH` of track_file `name`: the first one counts; its
    /// directory must exist for inotify to watch it.
    fn track_file_path(
        &mut self,
        tree: &Tree<'_>,
        child: u32,
        name: &str,
        path: &mut Option<PathBuf>,
    ) {
        let ckw = tree.keyword(child);
        self.max_args(tree, child, 1);
        let Some(p) = self.string_arg(tree, child, "a file path") else {
            return;
        };
        if path.is_some() {
            self.warning(
                ckw,
                format!("track_file `{name}` has its file already: this one is ignored"),
            );
            return;
        }
        if let Some(dir) = missing_directory(Path::new(&p)) {
            let at = &tree.args(child)[0];
            self.error(
                at,
                format!(
                    "the directory `{}` does not exist: inotify cannot watch for `{p}`",
                    dir.display()
                ),
            );
        }
        *path = Some(PathBuf::from(p));
    }

    /// `weight W [reverse]` of track_file `name`: the first one counts.
    fn track_file_weight(
        &mut self,
        tree: &Tree<'_>,
        child: u32,
        name: &str,
        weight: &mut Option<(i32, bool)>,
    ) {
        self.max_args(tree, child, 2);
        let Some(w) = self.parsed(tree, child, 0, "a weight (-254..254)", |w| {
            values::int(w).filter(|w| TRACK_FILE_WEIGHT.contains(w))
        }) else {
            return;
        };
        let reverse = match tree.args(child).get(1) {
            None => false,
            Some(t) => match self.value(t, "`reverse`", |w| (w == "reverse").then_some(())) {
                Some(()) => true,
                None => return,
            },
        };
        if weight.is_some() {
            self.warning(
                tree.keyword(child),
                format!("track_file `{name}` has its weight already: this one is ignored"),
            );
            return;
        }
        *weight = Some((w as i32, reverse));
    }

    /// An `init_file ... overwrite` (at `at`) must be able to write `path`:
    /// something there that is not a regular file is an error.
    fn init_target_is_a_file(
        &mut self,
        init: Option<&InitFile>,
        at: Option<&Tok<'_>>,
        path: &Path,
    ) {
        if let (
            Some(InitFile {
                overwrite: true, ..
            }),
            Some(at),
        ) = (init, at)
        {
            if path.exists() && !path.is_file() {
                self.error(
                    at,
                    format!(
                        "cannot initialise `{}`: it is not a regular file",
                        path.display()
                    ),
                );
            }
        }
    }

    /// `init_file [VALUE] [overwrite]`, in any order.
    fn init_file(&mut self, tree: &Tree<'_>, node: u32) -> Option<InitFile> {
        let mut init = InitFile {
            value: 0,
            overwrite: false,
        };
        for t in tree.args(node) {
            if t.text == "overwrite" {
                init.overwrite = true;
                continue;
            }
            let value = self.value(t, "an integer or `overwrite`", |w| {
                values::int(w).and_then(|v| i32::try_from(v).ok())
            })?;
            if !TRACK_FILE_WEIGHT.contains(&i64::from(value)) {
                self.warning(
                    t,
                    format!("init_file value {value} is outside the sensible range -254..254"),
                );
            }
            init.value = value;
        }
        Some(init)
    }
}

/// The directory `path` would be in, if it does not exist.
fn missing_directory(path: &Path) -> Option<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    (!dir.is_dir()).then(|| dir.to_path_buf())
}
