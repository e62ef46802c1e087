//! keepalived's command line, given to lvsd: every flag keepalived 2.2.7
//! lists in `keepalived --help` parses; each is honoured or refused with one
//! line; Debian's unit line (`keepalived --dont-fork $DAEMON_ARGS`) starts
//! lvsd. Host only: `-t`, or `--dry-run` on loopback addresses.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A config on loopback, one real server, no check: nothing is probed.
const CONFIG: &str = "virtual_server 127.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.2 80 {
        weight 1
    }
}
";

/// The flags keepalived lists: (short, long, takes a value).
fn keepalived_flags() -> Vec<(Option<char>, String, bool)> {
    let out = Command::new("keepalived").arg("--help").output();
    let out = match out {
        Ok(out) => out,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("keepalived is needed (.ci/setup installs it): {e}")
        }
        Err(e) => {
            eprintln!("skipped: keepalived --help: {e}");
            return Vec::new();
        }
    };
    let help =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    help.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let (short, rest) = match line.strip_prefix('-') {
                Some(r) if !r.starts_with('-') => {
                    let c = r.chars().next()?;
                    (Some(c), r[1..].trim_start_matches(',').trim_start())
                }
                _ => (None, line),
            };
            let long = rest.strip_prefix("--")?;
            let name: String = long
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            let after = &long[name.len()..];
            // `--x=VALUE`, or `--config-id id`; `[=...]` is optional.
            let value = after.starts_with('=') || after.starts_with(" id ");
            Some((short, name, value))
        })
        .collect()
}

fn lvsd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .env(
            "RUNTIME_DIRECTORY",
            std::env::temp_dir().join("lvsd-cli-test"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A value a flag could take, by its name.
fn value_for(long: &str, dir: &Path) -> String {
    match long {
        "log-facility" => "local3".into(),
        "umask" => "022".into(),
        "config-id" => "main".into(),
        "namespace" => "nonexistent".into(),
        "signum" => "RELOAD".into(),
        "core-dump-pattern" => "core".into(),
        _ => dir.join(format!("{long}.out")).display().to_string(),
    }
}

#[test]
fn every_keepalived_flag_is_honoured_or_refused_in_one_line() {
    let flags = keepalived_flags();
    if flags.is_empty() {
        return;
    }
    assert!(flags.len() >= 30, "keepalived lists {} flags", flags.len());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(&config, CONFIG).unwrap();
    let config = config.display().to_string();
    let refused = [
        "vrrp",
        "no_bfd",
        "all",
        "release-vips",
        "dont-release-vrrp",
        "genhash",
        "snmp",
        "snmp-agent-socket",
    ];
    for (short, long, takes_value) in &flags {
        if matches!(
            long.as_str(),
            "help" | "version" | "use-file" | "config-test"
        ) {
            continue;
        }
        let value = value_for(long, dir.path());
        // Values of optional arguments go after `=`, as getopt wants them.
        let inline = matches!(long.as_str(), "core-dump-pattern" | "signum");
        let mut args = vec![match inline {
            true => format!("--{long}={value}"),
            false => format!("--{long}"),
        }];
        if *takes_value && !inline {
            args.push(value.clone());
        }
        let mut with_test = args.clone();
        with_test.extend(["-t".into(), "-f".into(), config.clone()]);
        let argv: Vec<&str> = with_test.iter().map(String::as_str).collect();
        let out = lvsd(&argv);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        let shown = format!("lvsd {}: {said}", argv.join(" "));
        assert_ne!(out.status.code(), Some(2), "parses: {shown}");
        if refused.contains(&long.as_str()) {
            assert_eq!(out.status.code(), Some(1), "{shown}");
            assert_eq!(said.lines().count(), 1, "one line: {shown}");
            let short = short.map(|c| format!("-{c}/")).unwrap_or_default();
            assert!(
                said.starts_with(&format!("lvsd: {short}--{long}")),
                "{shown}"
            );
        } else if long == "signum" {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "{shown}");
        } else {
            assert_eq!(out.status.code(), Some(0), "honoured: {shown}");
        }
        // The short form means the same.
        if let Some(c) = short {
            let mut short_args = vec![format!("-{c}")];
            short_args.extend(args[1..].iter().cloned());
            short_args.extend(["-t".into(), "-f".into(), config.clone()]);
            let argv: Vec<&str> = short_args.iter().map(String::as_str).collect();
            let again = lvsd(&argv);
            assert_eq!(
                again.status.code(),
                out.status.code(),
                "lvsd {}",
                argv.join(" ")
            );
        }
    }
}

#[test]
fn config_test_with_a_log_file_writes_there() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(&config, format!("{CONFIG}bogus_keyword 1\n")).unwrap();
    let log = dir.path().join("test.log");
    let out = lvsd(&[
        &format!("--config-test={}", log.display()),
        "-f",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("unknown keyword `bogus_keyword`"), "{said}");
}

/// [`CONFIG`] written in `dir`, and a socket for `NOTIFY_SOCKET` there.
fn config_and_notify(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, UnixDatagram) {
    let config = dir.join("keepalived.conf");
    std::fs::write(&config, CONFIG).unwrap();
    let notify_path = dir.join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (config, notify_path, notify)
}

/// The ExecStart of Debian's keepalived.service, as installed here.
fn debian_exec_start() -> String {
    let unit = std::fs::read_to_string("/lib/systemd/system/keepalived.service")
        .unwrap_or_else(|_| "ExecStart=/usr/sbin/keepalived --dont-fork $DAEMON_ARGS\n".into());
    unit.lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line")
        .to_owned()
}

#[test]
fn debians_unit_line_starts_lvsd() {
    let line = debian_exec_start();
    assert_eq!(line, "/usr/sbin/keepalived --dont-fork $DAEMON_ARGS");
    let dir = tempfile::tempdir().unwrap();
    let (config, notify_path, notify) = config_and_notify(dir.path());
    // The unit's line with lvsd for keepalived, DAEMON_ARGS as
    // /etc/default/keepalived sets it (empty in Debian's package) plus
    // what a checker-only setup adds, and what this test needs.
    let defaults = std::fs::read_to_string("/etc/default/keepalived").unwrap_or_default();
    let script = format!(
        "{defaults}\nDAEMON_ARGS=\"$DAEMON_ARGS --check --log-detail --log-facility=daemon -f {} --dry-run\"\nexec {}",
        config.display(),
        line.replace("/usr/sbin/keepalived", env!("CARGO_BIN_EXE_lvsd"))
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env("NOTIFY_SOCKET", &notify_path)
        .env("RUNTIME_DIRECTORY", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY=1 from lvsd");
    let said = String::from_utf8_lossy(&buf[..n]).into_owned();
    let mut table = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut table)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(said.starts_with("READY=1"), "{said}");
    assert_eq!(table.trim(), "-A -t 127.0.0.1:80 -s rr");
}

/// A network namespace made for the test, deleted when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The network namespace inode lvsd runs in once it is ready, started
/// with `args` on [`CONFIG`] preceded by `head`.
fn netns_of_lvsd(args: &[&str], head: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let (config, notify_path, notify) = config_and_notify(dir.path());
    std::fs::write(&config, format!("{head}{CONFIG}")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .arg("--dry-run")
        .args(args)
        .arg("-f")
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let ready = notify.recv(&mut buf).map(|n| buf[..n].to_vec());
    let inside = std::fs::metadata(format!("/proc/{}/ns/net", child.id())).map(|m| m.ino());
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready.is_ok_and(|r| r.starts_with(b"READY=1")));
    inside.unwrap()
}

/// A namespace for the test, or None (after saying why) when it cannot run.
fn test_netns(tag: &str) -> Option<Netns> {
    let name = format!("lvsd-cli-{tag}-{}", std::process::id());
    let made = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cannot run under CI: needs root and iproute2 (`ip netns add`)"
        );
        eprintln!("skipped: needs root and iproute2 (`ip netns add`)");
        return None;
    }
    Some(Netns(name))
}

#[test]
fn net_namespace_and_the_namespace_flag_run_lvsd_there() {
    use std::os::unix::fs::MetadataExt;
    let (Some(blue), Some(green)) = (test_netns("blue"), test_netns("green")) else {
        return;
    };
    let inode = |ns: &Netns| {
        std::fs::metadata(format!("/run/netns/{}", ns.0))
            .unwrap()
            .ino()
    };
    // keepalived's net_namespace, in global_defs or at top level.
    let in_global_defs = format!("global_defs {{\n    net_namespace {}\n}}\n", blue.0);
    assert_eq!(netns_of_lvsd(&[], &in_global_defs), inode(&blue));
    let at_top = format!("net_namespace {}\n", green.0);
    assert_eq!(netns_of_lvsd(&[], &at_top), inode(&green));
    // -s wins over the config.
    assert_eq!(
        netns_of_lvsd(&["-s", &green.0], &in_global_defs),
        inode(&green)
    );
}
