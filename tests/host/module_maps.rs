//! Every `mod.rs` (and `lib.rs`, and the `main.rs` of a test binary in a
//! folder of `tests/`) opens with a map of its files: one
//! `//! - ` line per module it declares, naming it as `` `name` `` or
//! `` [`name`] ``. This fails when a module is added without a line in the
//! map, or a map line names a module (or file) that is gone, as
//! `tests/host/grammar.rs` does for keywords.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The `mod` declarations of a file (`mod x;`, `pub mod x;`,
/// `pub(crate) mod x;`), but not inline `mod x { }` blocks.
fn declared(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .or_else(|| line.strip_prefix("pub(super) mod "))
                .or_else(|| line.strip_prefix("mod "))?;
            let name = rest.strip_suffix(';')?;
            Some(name.to_string())
        })
        .collect()
}

/// The modules the opening `//!` map lists: the first `` `name` `` of each
/// `//! - ` line (links `` [`name`] `` too).
fn mapped(text: &str) -> BTreeSet<String> {
    text.lines()
        .take_while(|l| l.starts_with("//!"))
        .filter_map(|l| l.strip_prefix("//! - "))
        .filter_map(|item| {
            let item = item.strip_prefix('[').unwrap_or(item);
            let name = item.strip_prefix('`')?;
            let end = name.find('`')?;
            Some(name[..end].to_string())
        })
        .flat_map(|names| {
            // A line may list several: `` `tests`, `tests_admin`: ... ``.
            names.split(", ").map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

fn map_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            map_files(&path, out);
        } else if path
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
        {
            out.push(path);
        }
    }
}

#[test]
fn every_mod_rs_maps_exactly_its_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    map_files(&root.join("src"), &mut files);
    assert!(files.len() >= 7, "found only {files:?}");
    // The test binaries made of modules: `tests/host/main.rs` and the like.
    let binaries: Vec<_> = std::fs::read_dir(root.join("tests"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("main.rs"))
        .filter(|main| main.is_file())
        .collect();
    assert!(binaries.len() >= 2, "found only {binaries:?}");
    files.extend(binaries);
    files.sort();
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let declared = declared(&text);
        let mapped = mapped(&text);
        let missing: Vec<_> = declared.difference(&mapped).collect();
        let stale: Vec<_> = mapped.difference(&declared).collect();
        if !missing.is_empty() || !stale.is_empty() {
            wrong.push(format!(
                "{}: not in the map: {missing:?}; in the map but not declared: {stale:?}",
                file.strip_prefix(root).unwrap().display()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "module maps out of date:\n{}",
        wrong.join("\n")
    );
}
