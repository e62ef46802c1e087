//! The whole daemon on the host, `--dry-run` (an in-memory table that
//! prints each change as an `ipvsadm` line): what a check's verdicts do to
//! the table, end to end. No IPVS, no root, no network: the checks here are
//! `MISC_CHECK` commands.

use crate::dry_run_support;

use dry_run_support::dry_run;

#[test]
fn misc_dynamic_exit_statuses_set_the_real_servers_weight() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::write(&code, "7").unwrap();
    let script = dir.path().join("load.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexit $(cat {})\n", code.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("keepalived.conf");
    std::fs::write(
        &config,
        format!(
            "virtual_server 10.0.0.1 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 8080 {{
        weight 3
        MISC_CHECK {{
            misc_path {}
            misc_dynamic
        }}
    }}
}}
",
            script.display()
        ),
    )
    .unwrap();
    let lvsd = dry_run(&config).start();
    // At start the configured weight; after the first run, 7 - 2.
    let added = lvsd.out.next_starting("-a ", "");
    assert!(added.ends_with("-w 3"), "{added}");
    let changed = lvsd.out.next_starting("-e ", "");
    assert!(
        changed.contains("-r 127.0.0.1:8080") && changed.ends_with("-w 5"),
        "{changed}"
    );
    std::fs::write(&code, "12").unwrap();
    let changed = lvsd.out.next_starting("-e ", "");
    assert!(changed.ends_with("-w 10"), "{changed}");
    // Exit 1: down, so out of the table.
    std::fs::write(&code, "1").unwrap();
    let removed = lvsd.out.next_starting("-d ", "");
    assert!(removed.contains("-r 127.0.0.1:8080"), "{removed}");
}

/// A probe whose socket cannot be opened for want of files is put off, not
/// failed: 40 `UDP_CHECK`s that pass (their targets stay silent) each keep
/// a socket, more than the 32 files lvsd may open, yet no real server goes
/// down and the log says probes were put off. Reported as failures, an
/// overloaded guest out of files once took down thousands of healthy real
/// servers (`Driver::postpone`).
#[test]
fn datagram_probes_short_of_files_are_put_off_not_failed() {
    use std::os::unix::fs::PermissionsExt;
    let targets: Vec<std::net::UdpSocket> = (0..40)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = String::from(
        "virtual_server 10.0.0.1 53 {\n    delay_loop 0.2\n    lb_algo rr\n    lb_kind NAT\n    protocol UDP\n",
    );
    for target in &targets {
        let port = target.local_addr().unwrap().port();
        config += &format!(
            "    real_server 127.0.0.1 {port} {{\n        UDP_CHECK {{\n            connect_timeout 0.1\n            warmup 0\n        }}\n    }}\n"
        );
    }
    config += "}\n";
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, config).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let lvsd = dry_run(&path).open_files(32).log_merged("warn").start();
    let lines = lvsd.out.within(std::time::Duration::from_secs(4));
    let added = lines.iter().filter(|l| l.starts_with("-a -u")).count();
    assert_eq!(added, targets.len(), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("probes put off")),
        "{lines:#?}"
    );
    let downs: Vec<&String> = lines.iter().filter(|l| l.starts_with("-d ")).collect();
    assert!(downs.is_empty(), "real servers went down: {downs:#?}");
}
