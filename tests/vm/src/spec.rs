//! [`GuestSpec`]: what goes into a guest — memory, vCPUs, kernel modules,
//! and the files of its initramfs.
//!
//! The root file system is an initramfs built fresh at every boot from:
//! static busybox (all small tools), the host's bash (`/bin/sh`, which runs
//! every script), the kernel modules, the
//! harness's `/init`, and whatever the test adds. Host programs are copied
//! with the shared libraries `ldd` names and the dynamic loader, at their
//! host paths, so `ipvsadm`, `ip`, `keepalived` or a cargo-built binary run
//! unchanged. Nothing is read from the host until [`crate::Guest::boot`].

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cpio::{Archive, Entry};
use crate::kernel::{Kernel, DEFAULT_MODULES};
use crate::VmError;

/// How to build and boot one guest. Builder style:
///
/// ```no_run
/// # use lvsd_vm::GuestSpec;
/// let spec = GuestSpec::new("my-test")
///     .tool("ipvsadm")
///     // In a test of the lvsd crate: env!("CARGO_BIN_EXE_lvsd").
///     .binary_at("target/release/lvsd", "/usr/local/bin/lvsd")
///     .bytes("/etc/keepalived/keepalived.conf", "global_defs {}\n", 0o644);
/// ```
#[derive(Debug, Clone)]
pub struct GuestSpec {
    /// Names the log file `target/vm-logs/NAME.log`.
    pub name: String,
    /// Guest memory in MiB (the initramfs lives in it). Default 512.
    pub memory_mb: u32,
    /// Virtual CPUs. Default 1 (under TCG a second one costs more than it gives).
    pub cpus: u32,
    /// Kernel modules to load at boot (dependencies are added).
    pub modules: Vec<String>,
    /// Compress the initramfs with `gzip -1` (smaller, but slower to boot under TCG).
    pub gzip_initrd: bool,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    HostFile {
        host: PathBuf,
        guest: String,
        mode: Option<u32>,
    },
    Bytes {
        guest: String,
        data: Vec<u8>,
        mode: u32,
    },
    Binary {
        host: PathBuf,
        guest: String,
    },
    Tool(String),
    Dir(String),
    Symlink {
        guest: String,
        target: String,
    },
}

/// Where [`GuestSpec::tool`] looks for a program on the host.
const TOOL_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Binaries larger than this are copied without debug info (`strip --strip-debug`).
const STRIP_ABOVE: u64 = 4 << 20;

impl GuestSpec {
    /// A guest with busybox, bash, IPVS and its schedulers, veth and netem.
    /// `name` names the log and the initramfs file: keep it unique across
    /// the test suite (e.g. the test binary's name).
    pub fn new(name: &str) -> GuestSpec {
        GuestSpec {
            name: name.to_string(),
            memory_mb: 512,
            cpus: 1,
            modules: DEFAULT_MODULES.iter().map(|m| m.to_string()).collect(),
            gzip_initrd: false,
            parts: Vec::new(),
        }
    }

    /// Sets guest memory in MiB.
    pub fn memory_mb(mut self, mb: u32) -> Self {
        self.memory_mb = mb;
        self
    }

    /// Sets the number of virtual CPUs.
    pub fn cpus(mut self, n: u32) -> Self {
        self.cpus = n;
        self
    }

    /// Compresses the initramfs with `gzip -1` (see [`GuestSpec::gzip_initrd`]).
    pub fn gzip_initrd(mut self, on: bool) -> Self {
        self.gzip_initrd = on;
        self
    }

    /// Loads one more kernel module (and its dependencies) at boot.
    pub fn module(mut self, name: &str) -> Self {
        self.modules.push(name.to_string());
        self
    }

    /// Copies the host file `host` to `guest` (keeping its permission bits).
    pub fn file(mut self, host: impl AsRef<Path>, guest: &str) -> Self {
        self.parts.push(Part::HostFile {
            host: host.as_ref().to_path_buf(),
            guest: guest.to_string(),
            mode: None,
        });
        self
    }

    /// Writes `data` to `guest` with permission bits `mode` (e.g. `0o755`).
    pub fn bytes(mut self, guest: &str, data: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.parts.push(Part::Bytes {
            guest: guest.to_string(),
            data: data.into(),
            mode,
        });
        self
    }

    /// Creates an empty folder `guest`.
    pub fn dir(mut self, guest: &str) -> Self {
        self.parts.push(Part::Dir(guest.to_string()));
        self
    }

    /// Makes `guest` a symbolic link to `target`.
    pub fn symlink(mut self, guest: &str, target: &str) -> Self {
        self.parts.push(Part::Symlink {
            guest: guest.to_string(),
            target: target.to_string(),
        });
        self
    }

    /// Copies the host program `host` to the same path in the guest, with its
    /// libraries. For cargo binaries: `.binary(env!("CARGO_BIN_EXE_lvsd"))`
    /// lands at the same (long) path; prefer [`GuestSpec::binary_at`].
    pub fn binary(self, host: impl AsRef<Path>) -> Self {
        let guest = host.as_ref().to_string_lossy().into_owned();
        self.binary_at(host, &guest)
    }

    /// Copies the host program `host` to `guest` (e.g. `/usr/local/bin/lvsd`), with its libraries.
    pub fn binary_at(mut self, host: impl AsRef<Path>, guest: &str) -> Self {
        self.parts.push(Part::Binary {
            host: host.as_ref().to_path_buf(),
            guest: guest.to_string(),
        });
        self
    }

    /// Copies the host program called `name` (found in the usual bin and sbin
    /// folders) to the same path in the guest, with its libraries.
    pub fn tool(mut self, name: &str) -> Self {
        self.parts.push(Part::Tool(name.to_string()));
        self
    }

    /// `ipvsadm` and iproute2's `ip` (netns, veth): what most tests need.
    pub fn net_tools(self) -> Self {
        self.tool("ipvsadm").tool("ip")
    }

    /// keepalived (2.2.7 on Debian 12) and the folders it writes to, for
    /// side-by-side runs: `keepalived -C -n -l -f FILE` manages IPVS in the guest.
    pub fn keepalived(self) -> Self {
        self.tool("keepalived")
            .dir("/etc/keepalived")
            .dir("/var/lib/keepalived")
    }

    /// Builds the initramfs: busybox, `/init`, the modules, then the parts.
    pub(crate) fn build(&self, kernel: &Kernel, scratch: &Path) -> Result<Archive, VmError> {
        let mut a = Archive::default();
        let busybox = find_tool("busybox").ok_or_else(|| {
            VmError::Unavailable("busybox not found (install busybox-static)".into())
        })?;
        add_binary(&mut a, &busybox, "/bin/busybox", scratch)?;
        let bash =
            find_tool("bash").ok_or_else(|| VmError::Unavailable("bash not found".into()))?;
        add_binary(&mut a, &bash, "/bin/bash", scratch)?;
        a.insert(
            "/bin/sh",
            Entry::Symlink {
                target: "bash".into(),
            },
        );
        a.insert(
            "/init",
            Entry::File {
                data: crate::guest::INIT.as_bytes().to_vec(),
                mode: 0o755,
            },
        );
        // The command channel's driver first, then what the test asked for.
        let modules: Vec<&str> = ["virtio_pci", "virtio_console"]
            .into_iter()
            .chain(self.modules.iter().map(String::as_str))
            .collect();
        let mut order = String::new();
        for (name, data) in kernel.modules_in_load_order(&modules)? {
            a.insert(
                &format!("/lib/modules/lvsd-vm/{name}.ko"),
                Entry::File { data, mode: 0o644 },
            );
            order.push_str(&name);
            order.push('\n');
        }
        a.insert(
            "/etc/lvsd-vm/modules",
            Entry::File {
                data: order.into_bytes(),
                mode: 0o644,
            },
        );
        a.insert("/etc/passwd", text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"));
        a.insert("/etc/group", text("root:x:0:\nnogroup:x:65534:\n"));
        a.insert("/etc/hosts", text("127.0.0.1 localhost\n::1 localhost\n"));
        for dir in ["/root", "/var/lib", "/var/log", "/usr/local/bin"] {
            a.insert(dir, Entry::Dir);
        }
        for part in &self.parts {
            match part {
                Part::HostFile { host, guest, mode } => {
                    let data = std::fs::read(host).map_err(|e| missing(host, e))?;
                    let mode = mode.unwrap_or_else(|| host_mode(host));
                    a.insert(guest, Entry::File { data, mode });
                }
                Part::Bytes { guest, data, mode } => a.insert(
                    guest,
                    Entry::File {
                        data: data.clone(),
                        mode: *mode,
                    },
                ),
                Part::Binary { host, guest } => add_binary(&mut a, host, guest, scratch)?,
                Part::Tool(name) => {
                    let host = find_tool(name).ok_or_else(|| {
                        VmError::Unavailable(format!(
                            "{name} not found on the host (see .ci/setup)"
                        ))
                    })?;
                    let guest = host.to_string_lossy().into_owned();
                    add_binary(&mut a, &host, &guest, scratch)?;
                }
                Part::Dir(guest) => a.insert(guest, Entry::Dir),
                Part::Symlink { guest, target } => a.insert(
                    guest,
                    Entry::Symlink {
                        target: target.clone(),
                    },
                ),
            }
        }
        Ok(a)
    }
}

fn text(s: &str) -> Entry {
    Entry::File {
        data: s.as_bytes().to_vec(),
        mode: 0o644,
    }
}

fn missing(path: &Path, e: std::io::Error) -> VmError {
    VmError::Unavailable(format!("{}: {e}", path.display()))
}

fn host_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644)
}

fn find_tool(name: &str) -> Option<PathBuf> {
    TOOL_PATH
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Adds a program and, unless it is static, its libraries and loader.
fn add_binary(a: &mut Archive, host: &Path, guest: &str, scratch: &Path) -> Result<(), VmError> {
    let size = std::fs::metadata(host).map_err(|e| missing(host, e))?.len();
    let data = if size > STRIP_ABOVE {
        stripped(host, scratch)
    } else {
        None
    };
    let data = match data {
        Some(d) => d,
        None => std::fs::read(host).map_err(|e| missing(host, e))?,
    };
    a.insert(guest, Entry::File { data, mode: 0o755 });
    for lib in shared_libraries(host)? {
        if !a.contains(&lib.to_string_lossy()) {
            let data = std::fs::read(&lib).map_err(|e| missing(&lib, e))?;
            a.insert(&lib.to_string_lossy(), Entry::File { data, mode: 0o755 });
        }
    }
    Ok(())
}

/// A debug-stripped copy, or `None` if `strip` is not there or fails.
fn stripped(host: &Path, scratch: &Path) -> Option<Vec<u8>> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out = scratch.join(format!("stripped-{}-{seq}.tmp", std::process::id()));
    let ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&out)
        .arg(host)
        .status()
        .ok()?
        .success();
    let data = if ok { std::fs::read(&out).ok() } else { None };
    let _ = std::fs::remove_file(&out);
    data
}

/// The absolute paths in `ldd`'s answer (libraries and the loader).
fn shared_libraries(host: &Path) -> Result<Vec<PathBuf>, VmError> {
    let out = Command::new("ldd")
        .arg(host)
        .output()
        .map_err(|e| VmError::Unavailable(format!("cannot run ldd: {e}")))?;
    // A static program: ldd says "not a dynamic executable" and fails.
    if !out.status.success() {
        return Ok(Vec::new());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.trim().split(' ').next()?,
                None => line.split(' ').next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::{Guest, GuestSpec, VmError};

    #[test]
    fn a_missing_host_file_makes_the_guest_unavailable_before_qemu_starts() {
        let spec = GuestSpec::new("missing-file").file("/nonexistent/lvsd-vm-test", "/x");
        match Guest::boot(spec) {
            Err(VmError::Unavailable(why)) => assert!(
                why.contains("/nonexistent/lvsd-vm-test")
                    || why.contains("qemu")
                    || why.contains("kernel"),
                "{why}"
            ),
            Err(e) => panic!("expected Unavailable, got {e}"),
            Ok(_) => panic!("booted without its file"),
        }
    }
}
