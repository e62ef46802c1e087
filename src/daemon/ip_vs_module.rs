//! Loading the `ip_vs` kernel module at start, as keepalived and ipvsadm
//! do: after a boot nothing else may have loaded it, and without it there
//! is no IPVS table to keep.

use std::path::Path;
use std::process::{Command, Stdio};

/// Load `ip_vs` with modprobe(8) unless the kernel already has IPVS
/// (`/proc/net/ip_vs` exists, built in or loaded). A failure is logged;
/// opening the table then says what is missing.
pub fn ensure_loaded() {
    if Path::new("/proc/net/ip_vs").exists() {
        return;
    }
    // The kernel's own idea of where modprobe is, as keepalived reads it.
    let modprobe = std::fs::read_to_string("/proc/sys/kernel/modprobe")
        .ok()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/sbin/modprobe".to_owned());
    let result = Command::new(&modprobe)
        .arg("ip_vs")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match result {
        Ok(out) if out.status.success() => {
            tracing::info!("IPVS was not loaded: loaded the ip_vs kernel module")
        }
        Ok(out) => tracing::warn!(
            "IPVS is not loaded and `{modprobe} ip_vs` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => tracing::warn!("IPVS is not loaded and `{modprobe} ip_vs` cannot run: {e}"),
    }
}
