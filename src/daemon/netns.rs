//! `net_namespace NAME` (global_defs) and `-s NAME` / `--namespace NAME`
//! (which wins): run in the network namespace that `ip netns add NAME`
//! made (`/run/netns/NAME`), as keepalived does. IPVS tables are per
//! namespace, so this chooses the table lvsd keeps, the addresses its
//! probes leave from, and the instance lock it takes. It is entered once,
//! at start: a reload cannot move lvsd (see `config_guard`).

use std::io;
use std::path::Path;

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

/// Move this thread into the namespace `name` names. Called before any
/// other thread starts, so every thread lvsd makes later is in it too.
pub fn enter(name: &str) -> io::Result<()> {
    let path = if name.contains('/') {
        Path::new(name).to_path_buf()
    } else {
        Path::new("/run/netns").join(name)
    };
    let fail = |e: io::Error| io::Error::new(e.kind(), format!("{name} ({}): {e}", path.display()));
    // setns(2) moves one thread: the others would stay behind.
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
    if threads > 1 {
        return Err(fail(io::Error::other(format!(
            "{threads} threads already run; a namespace is entered before any starts"
        ))));
    }
    let file = std::fs::File::open(&path).map_err(fail)?;
    move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&file),
        Some(LinkNameSpaceType::Network),
    )
    .map_err(|e| fail(e.into()))?;
    tracing::info!(namespace = name, "running in network namespace {name}");
    Ok(())
}
