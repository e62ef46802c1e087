//! What a SIGHUP reload of an unchanged config costs after the config is
//! read: the reconciler compares the new [`Config`] with the one it runs
//! (`==`, a deep comparison) and, finding them equal, drops the new one.
//!
//! `cargo run --release --example config_reload_cost -- FILE` loads FILE
//! twice and does just that in [`compare_then_drop`], which is not inlined
//! so that a profiler can measure it alone:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*compare_then_drop*' \
//!     target/release/examples/config_reload_cost FILE
//! ```
//!
//! (`bench/config_instructions.sh` does this.)

use std::path::PathBuf;
use std::process::ExitCode;

use lvsd::config::{load, Config, LoadOptions};

/// The reload's work once the new config is read: compare, then drop the
/// duplicate. Returns whether the two were equal.
#[inline(never)]
fn compare_then_drop(running: &Config, new: Config) -> bool {
    let same = *running == new;
    drop(new);
    same
}

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: config_reload_cost FILE");
        return ExitCode::from(2);
    };
    let opts = LoadOptions::default();
    let (running, new) = match (load(&path, &opts), load(&path, &opts)) {
        (Ok(a), Ok(b)) => (a.config, b.config),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let real_servers: usize = running
        .virtual_servers
        .iter()
        .map(|vs| vs.real_servers.len())
        .sum();
    let same = compare_then_drop(&running, new);
    println!("{real_servers} real servers, equal: {same}");
    // The running config is not part of the measurement: the process ends.
    std::mem::forget(running);
    if same {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
