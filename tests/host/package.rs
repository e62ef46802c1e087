//! The Debian package (`packaging/build-deb`), built once from the lvsd
//! binary under test and checked as Debian's tools see it:
//!
//! - its file list, conffiles and maintainer scripts: what an operator gets,
//!   and that installing never enables or starts lvsd nor owns keepalived.conf;
//! - install, upgrade, remove and purge with dpkg in a scratch root: the
//!   operator's keepalived.conf is never touched, /etc/default/lvsd is a
//!   conffile;
//! - `lintian`: no error;
//! - `systemd-analyze verify` on the packaged unit, and its `security`
//!   exposure (printed beside Debian's keepalived.service);
//! - every man page renders with `man --warnings` silent, and lvsd(8) lists
//!   every long option `lvsd --help` has (it is generated from the same clap
//!   definition).
//!
//! Needs dpkg-dev, binutils, lintian, systemd and man-db (`.ci/setup`);
//! without them a test prints `skipped: …`, or fails under `CI=true`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

/// The built package and the folder it is unpacked in.
struct Package {
    deb: PathBuf,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Every tool in `tools` is on PATH; else skip (or fail under CI).
fn tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    lvsd_vm::skip_or_fail(&format!("needs {} (bash .ci/setup)", missing.join(", ")));
    false
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The package, built on first use; None when the tools are missing.
fn package() -> Option<&'static Package> {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    if !tools(&["dpkg-deb", "dpkg-shlibdeps", "strip", "gzip"]) {
        return None;
    }
    Some(PACKAGE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/build-deb");
        let out = run(Command::new("bash")
            .arg(script)
            .args(["--binary", LVSD, "--out"])
            .arg(dir.path()));
        let deb = PathBuf::from(text(&out.stdout).trim());
        let root = dir.path().join("root");
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
        Package {
            deb,
            root,
            _dir: dir,
        }
    }))
}

/// The regular files of the package, as absolute paths.
fn files(pkg: &Package) -> BTreeSet<String> {
    let out = run(Command::new("dpkg-deb").arg("-c").arg(&pkg.deb));
    text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let path = l.split_whitespace().last().unwrap();
            path.trim_start_matches('.').to_string()
        })
        .collect()
}

fn control_file(pkg: &Package, name: &str) -> String {
    let out = run(Command::new("dpkg-deb")
        .args(["--ctrl-tarfile"])
        .arg(&pkg.deb));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("control.tar"), &out.stdout).unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(dir.path().join("control.tar"))
        .arg("-C")
        .arg(dir.path()));
    std::fs::read_to_string(dir.path().join(name)).unwrap_or_default()
}

#[test]
fn the_package_holds_the_daemon_unit_pages_and_completions() {
    let Some(pkg) = package() else { return };
    let got = files(pkg);
    // The man pages are whatever the binary generates: one per visible
    // subcommand, so a new subcommand's page is packaged without an edit.
    let generated = tempfile::tempdir().unwrap();
    run(Command::new(LVSD)
        .args(["generate", "man"])
        .arg(generated.path()));
    let mut want: BTreeSet<String> = [
        "/usr/sbin/lvsd",
        "/lib/systemd/system/lvsd.service",
        "/usr/lib/modules-load.d/lvsd.conf",
        "/etc/default/lvsd",
        "/usr/share/bash-completion/completions/lvsd",
        "/usr/share/zsh/vendor-completions/_lvsd",
        "/usr/share/fish/vendor_completions.d/lvsd.fish",
        "/usr/share/doc/lvsd/copyright",
        "/usr/share/doc/lvsd/changelog.gz",
        "/usr/share/doc/lvsd/README.md.gz",
        "/usr/share/doc/lvsd/migrating.md.gz",
        "/usr/share/doc/lvsd/differences.md.gz",
        "/usr/share/doc/lvsd/examples/notify-reload.conf",
    ]
    .map(String::from)
    .into();
    for page in std::fs::read_dir(generated.path()).unwrap() {
        let name = page.unwrap().file_name().into_string().unwrap();
        let section = name.rsplit('.').next().unwrap().to_string();
        want.insert(format!("/usr/share/man/man{section}/{name}.gz"));
    }
    for page in [
        "/usr/share/man/man8/lvsd.8.gz",
        "/usr/share/man/man8/lvsd-ipvs.8.gz",
        "/usr/share/man/man5/lvsd.conf.5.gz",
    ] {
        assert!(want.contains(page), "{page} is generated");
    }
    assert_eq!(got, want);
    let modules =
        std::fs::read_to_string(pkg.root.join("usr/lib/modules-load.d/lvsd.conf")).unwrap();
    assert!(modules.lines().any(|l| l.trim() == "ip_vs"), "{modules}");
}

/// keepalived.conf is the operator's: no file under /etc/keepalived, and the
/// only conffile is /etc/default/lvsd. Installing enables and starts
/// nothing (two checkers on one table fight); an upgrade only restarts an
/// lvsd already running.
#[test]
fn installing_touches_no_keepalived_file_and_starts_nothing() {
    let Some(pkg) = package() else { return };
    assert!(!files(pkg).iter().any(|f| f.starts_with("/etc/keepalived")));
    assert_eq!(control_file(pkg, "conffiles").trim(), "/etc/default/lvsd");
    let postinst = control_file(pkg, "postinst");
    assert!(!postinst.is_empty());
    // The commands, without the comments that explain them.
    let postinst: String = postinst
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    for word in [
        "enable",
        "systemctl start",
        "invoke start",
        "invoke restart",
    ] {
        assert!(
            !postinst.contains(word),
            "postinst must not {word} lvsd:\n{postinst}"
        );
    }
    assert!(postinst.contains("try-restart lvsd.service"), "{postinst}");
    let control = control_file(pkg, "control");
    assert!(
        control.contains(&format!("Version: {}\n", env!("CARGO_PKG_VERSION"))),
        "{control}"
    );
    assert!(control.contains("Depends: libc6"), "{control}");
    assert!(control.contains("neither enables nor starts"), "{control}");
}

#[test]
fn lintian_reports_no_error() {
    let Some(pkg) = package() else { return };
    if !tools(&["lintian"]) {
        return;
    }
    let out = Command::new("lintian")
        .arg("--allow-root")
        .arg(&pkg.deb)
        .output()
        .expect("run lintian");
    let report = text(&out.stdout);
    eprintln!("lintian:\n{report}{}", text(&out.stderr));
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));
    assert!(
        out.status.success(),
        "lintian failed: {}\n{}",
        out.status,
        text(&out.stderr)
    );
}

/// The unit as packaged, with ExecStart pointing at the unpacked binary
/// (verify checks that the program exists) and `man` finding the packaged
/// pages (verify checks each `Documentation=man:` page).
fn unit_for_verify(pkg: &Package) -> (tempfile::TempDir, PathBuf, String) {
    let unit = std::fs::read_to_string(pkg.root.join("lib/systemd/system/lvsd.service")).unwrap();
    let binary = pkg.root.join("usr/sbin/lvsd");
    let unit = unit.replace("/usr/sbin/lvsd", binary.to_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lvsd.service");
    std::fs::write(&path, unit).unwrap();
    let manpath = format!(
        "{}:/usr/share/man",
        pkg.root.join("usr/share/man").display()
    );
    (dir, path, manpath)
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let Some(pkg) = package() else { return };
    if !tools(&["systemd-analyze", "man"]) {
        return;
    }
    let (_dir, unit, manpath) = unit_for_verify(pkg);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .env("MANPATH", manpath)
        .output()
        .expect("run systemd-analyze");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `systemd-analyze security` exposure of `unit` (0 best, 10 worst).
fn exposure(unit: &Path) -> f64 {
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit));
    let report = text(&out.stdout);
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure in:\n{report}"));
    line.split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

#[test]
fn the_unit_is_sandboxed() {
    let Some(pkg) = package() else { return };
    if !tools(&["systemd-analyze"]) {
        return;
    }
    let (_dir, unit, _) = unit_for_verify(pkg);
    let lvsd = exposure(&unit);
    let keepalived = Path::new("/lib/systemd/system/keepalived.service");
    let reference = keepalived.exists().then(|| exposure(keepalived));
    eprintln!("systemd-analyze security: lvsd.service {lvsd}, keepalived.service {reference:?}");
    // "OK" starts below 3 on systemd's scale; keepalived's unit is 9.6.
    assert!(lvsd < 3.0, "lvsd.service exposure {lvsd}");
}

#[test]
fn every_man_page_renders_without_warnings() {
    let Some(pkg) = package() else { return };
    if !tools(&["man"]) {
        return;
    }
    let mut pages = Vec::new();
    for section in ["man5", "man8"] {
        for page in std::fs::read_dir(pkg.root.join("usr/share/man").join(section)).unwrap() {
            pages.push(page.unwrap().path());
        }
    }
    assert!(pages.len() >= 3, "{pages:?}");
    for page in &pages {
        let out = Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("run man");
        assert!(
            out.status.success() && out.stderr.is_empty() && !out.stdout.is_empty(),
            "man -l {}: {}\n{}",
            page.display(),
            out.status,
            text(&out.stderr)
        );
    }
    // lvsd(8) has every long option of `lvsd --help`, and the hand-written
    // sections.
    let page = pkg.root.join("usr/share/man/man8/lvsd.8.gz");
    let rendered = text(
        &run(Command::new("man")
            .args(["-E", "UTF-8", "-l"])
            .arg(&page)
            .env("MANWIDTH", "200")
            .env("LC_ALL", "C.UTF-8"))
        .stdout,
    );
    let help = text(&run(Command::new(LVSD).arg("--help")).stdout);
    let longs: BTreeSet<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect();
    assert!(longs.contains("--keep-table"), "{help}");
    for long in longs {
        assert!(rendered.contains(long), "lvsd(8) lacks {long}");
    }
    for section in ["SIGNALS", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"] {
        assert!(
            rendered.lines().any(|l| l == section),
            "lvsd(8) lacks {section}"
        );
    }
}

/// `dpkg ARGS` into the root `root` (its own database; maintainer scripts
/// run outside a chroot, with `DPKG_ROOT` set, so they touch nothing here).
fn dpkg(root: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display()))
        .args([
            "--force-not-root",
            "--force-script-chrootless",
            "--force-depends",
            "--log=/dev/null",
        ])
        .args(args);
    run(&mut cmd)
}

/// Install, upgrade, remove and purge in a scratch root holding an
/// operator's keepalived.conf: it is never touched; /etc/default/lvsd is a
/// conffile (an edit survives the upgrade and the removal, purge deletes it).
#[test]
fn install_upgrade_remove_and_purge_leave_keepalived_conf_alone() {
    let Some(pkg) = package() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::create_dir_all(root.join("etc/keepalived")).unwrap();
    let conf = root.join("etc/keepalived/keepalived.conf");
    let operators = "# the operator's\nvirtual_server 10.0.0.1 80 {\n}\n";
    std::fs::write(&conf, operators).unwrap();
    let deb = pkg.deb.to_str().unwrap();
    let default = root.join("etc/default/lvsd");

    dpkg(root, &["-i", deb]);
    assert!(root.join("usr/sbin/lvsd").exists());
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), operators);
    let edited = "LVSD_OPTIONS=\"--drift-interval 10\"\n";
    std::fs::write(&default, edited).unwrap();

    // The same package again is an upgrade (postinst configure OLD-VERSION).
    dpkg(root, &["-i", deb]);
    assert_eq!(std::fs::read_to_string(&default).unwrap(), edited);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), operators);

    dpkg(root, &["-r", "lvsd"]);
    assert!(!root.join("usr/sbin/lvsd").exists());
    assert!(!root.join("lib/systemd/system/lvsd.service").exists());
    assert_eq!(std::fs::read_to_string(&default).unwrap(), edited);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), operators);

    dpkg(root, &["-P", "lvsd"]);
    assert!(!default.exists());
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), operators);
}
