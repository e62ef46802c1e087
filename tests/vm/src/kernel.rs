//! The guest kernel: Debian's cloud kernel, unpacked once into the cache.
//!
//! `tests/vm/fetch-kernel` (also run by `.ci/setup`) is the one place that
//! knows how to fetch it. [`Kernel::ensure`] uses the newest cached kernel
//! when there is one, so tests need no network, and runs the script only
//! when the cache is empty.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{cache_dir, VmError};

/// An unpacked kernel package: the image and its modules.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Where the package was unpacked (holds `boot/` and `lib/modules/`).
    pub root: PathBuf,
    /// The kernel release, e.g. `6.1.0-56-cloud-amd64`.
    pub release: String,
    /// The bootable image, `boot/vmlinuz-RELEASE`.
    pub vmlinuz: PathBuf,
    /// Module name (with `_`, as `lsmod` prints it) → `.ko` or `.ko.xz` file.
    modules: HashMap<String, PathBuf>,
}

/// IPVS and its schedulers, then what the tests' networks need. Names
/// missing from a kernel are skipped; dependencies are added automatically.
pub const DEFAULT_MODULES: &[&str] = &[
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_wlc",
    "ip_vs_lc",
    "ip_vs_sh",
    "ip_vs_mh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_dh",
    "ip_vs_lblc",
    "ip_vs_lblcr",
    "ip_vs_fo",
    "ip_vs_ovf",
    "ip_vs_twos",
    "ip_vs_pe_sip",
    "veth",
    "sch_netem",
    "ipip",
    "ip_gre",
];

impl Kernel {
    /// Finds the cached kernel, fetching it (apt) if the cache is empty.
    /// An error here means "unavailable": the tests skip or fail per
    /// [`crate::boot_or_skip`].
    pub fn ensure() -> Result<Kernel, VmError> {
        static KERNEL: OnceLock<Result<Kernel, String>> = OnceLock::new();
        KERNEL
            .get_or_init(|| Self::find_or_fetch().map_err(|e| e.to_string()))
            .clone()
            .map_err(VmError::Unavailable)
    }

    fn find_or_fetch() -> Result<Kernel, VmError> {
        let cache = cache_dir();
        if let Some(root) = newest_cached(&cache) {
            return Self::open(&root);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fetch-kernel");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&cache)
            .output()
            .map_err(|e| VmError::Unavailable(format!("cannot run {}: {e}", script.display())))?;
        if !out.status.success() {
            return Err(VmError::Unavailable(format!(
                "fetching the kernel failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Self::open(Path::new(String::from_utf8_lossy(&out.stdout).trim()))
    }

    /// Reads an unpacked kernel package at `root`.
    pub fn open(root: &Path) -> Result<Kernel, VmError> {
        let unavailable =
            |what: &str| VmError::Unavailable(format!("{what} in {}", root.display()));
        let release = std::fs::read_dir(root.join("lib/modules"))
            .map_err(|_| unavailable("no lib/modules"))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .next()
            .ok_or_else(|| unavailable("no kernel release"))?;
        let vmlinuz = root.join("boot").join(format!("vmlinuz-{release}"));
        if !vmlinuz.is_file() {
            return Err(unavailable("no boot/vmlinuz"));
        }
        let mut modules = HashMap::new();
        index_modules(&root.join("lib/modules").join(&release), &mut modules);
        Ok(Kernel {
            root: root.to_path_buf(),
            release,
            vmlinuz,
            modules,
        })
    }

    /// The module file for `name`, if this kernel has it.
    pub fn module_path(&self, name: &str) -> Option<&Path> {
        self.modules
            .get(&name.replace('-', "_"))
            .map(PathBuf::as_path)
    }

    /// `names` and everything they depend on, in a loadable order
    /// (dependencies first), as (name, uncompressed module bytes). Names
    /// this kernel lacks are left out.
    pub fn modules_in_load_order(&self, names: &[&str]) -> Result<Vec<(String, Vec<u8>)>, VmError> {
        let mut ordered = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for name in names {
            self.visit(&name.replace('-', "_"), &mut seen, &mut ordered)?;
        }
        Ok(ordered)
    }

    fn visit(
        &self,
        name: &str,
        seen: &mut std::collections::HashSet<String>,
        ordered: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<(), VmError> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let Some(path) = self.modules.get(name) else {
            return Ok(()); // built in, or not in this kernel
        };
        let bytes = read_module(path)?;
        for dep in module_depends(&bytes) {
            self.visit(&dep, seen, ordered)?;
        }
        ordered.push((name.to_string(), bytes));
        Ok(())
    }
}

/// The newest `<cache>/linux-image-*` folder that finished unpacking.
fn newest_cached(cache: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(".done").exists())
        .collect();
    // Package names embed the ABI number, so the longest-then-greatest name is newest.
    found.sort_by_key(|p| (p.as_os_str().len(), p.clone()));
    found.pop()
}

fn index_modules(dir: &Path, out: &mut HashMap<String, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            index_modules(&path, out);
        } else if let Some(file) = path.file_name().and_then(|f| f.to_str()) {
            if let Some(stem) = file
                .strip_suffix(".ko")
                .or_else(|| file.strip_suffix(".ko.xz"))
            {
                out.insert(stem.replace('-', "_"), path);
            }
        }
    }
}

/// The module's bytes, uncompressed (busybox `insmod` wants a plain `.ko`).
fn read_module(path: &Path) -> Result<Vec<u8>, VmError> {
    if path.extension().is_some_and(|e| e == "xz") {
        let out = Command::new("xz").arg("-dc").arg(path).output();
        match out {
            Ok(o) if o.status.success() => Ok(o.stdout),
            _ => Err(VmError::Unavailable(format!(
                "cannot uncompress {} (is xz-utils installed?)",
                path.display()
            ))),
        }
    } else {
        std::fs::read(path).map_err(|e| VmError::Unavailable(format!("{}: {e}", path.display())))
    }
}

/// The `depends=` field of a module's `.modinfo` section (what `modinfo -F
/// depends` prints), found as a NUL-delimited string in the file.
fn module_depends(ko: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\0depends=";
    let Some(start) = ko.windows(KEY.len()).position(|w| w == KEY) else {
        return Vec::new();
    };
    let rest = &ko[start + KEY.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace('-', "_"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_depends_from_modinfo_strings() {
        let ko = b"\x7fELF...\0license=GPL\0depends=nf_conntrack,libcrc32c\0vermagic=6.1\0";
        assert_eq!(module_depends(ko), ["nf_conntrack", "libcrc32c"]);
        assert!(module_depends(b"\0depends=\0name=veth\0").is_empty());
    }

    #[test]
    fn the_real_kernel_loads_dependencies_first() {
        let kernel = match Kernel::ensure() {
            Ok(k) => k,
            Err(e) => return crate::skip_or_fail(&e.to_string()),
        };
        let order: Vec<String> = kernel
            .modules_in_load_order(&["ip_vs_rr", "veth"])
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let at = |m: &str| {
            order
                .iter()
                .position(|n| n == m)
                .unwrap_or_else(|| panic!("{m} missing: {order:?}"))
        };
        assert!(at("libcrc32c") < at("nf_conntrack"), "{order:?}");
        assert!(at("nf_conntrack") < at("ip_vs"), "{order:?}");
        assert!(at("ip_vs") < at("ip_vs_rr"), "{order:?}");
        assert_eq!(order.len(), 7, "{order:?}"); // + nf_defrag_ipv4/6, veth
    }
}
