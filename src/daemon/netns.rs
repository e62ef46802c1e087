//! `-s NAME` / `--namespace NAME`: run in the network namespace that
//! `ip netns add NAME` made (`/run/netns/NAME`), as keepalived does. IPVS
//! tables are per namespace, so this chooses the table lvsd keeps, the
//! addresses its probes leave from, and the instance lock it takes.

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
    let fail = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("network namespace {name} ({}): {e}", path.display()),
        )
    };
    let file = std::fs::File::open(&path).map_err(fail)?;
    move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&file),
        Some(LinkNameSpaceType::Network),
    )
    .map_err(|e| fail(e.into()))?;
    tracing::info!(namespace = name, "running in network namespace {name}");
    Ok(())
}
