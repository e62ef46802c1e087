//! `smtp_alert`: the mails keepalived 2.2.7 and lvsd send for the same
//! changes, side by side in the guest (see `tests/vm`).
//!
//! A mail sink (busybox `nc` running `tests/data/smtp_alert/sink.sh` per
//! connection, each dialog in a file of its own) listens on 127.0.0.1:2525.
//! Each program in turn runs the same config and the same story: start
//! (a virtual server with `smtp_alert` gains its quorum; a real server with
//! nothing listening is down), then its backend dies and a MISC_CHECK's
//! file goes (down), then both come back (up). The mails must match: the
//! same dialog (HELO, MAIL FROM, RCPT TO for each address, DATA, QUIT), the
//! same headers but the date, the same subjects and bodies, in any order.
//!
//! Needs qemu, the cached kernel and keepalived (`bash .ci/setup`); skips
//! without them unless `CI=true`.

use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec};

const CONFIG: &str = "global_defs {
    notification_email {
        ops@example.com
        oncall@example.org
    }
    notification_email_from lvs@example.com
    smtp_server 127.0.0.1 2525
    smtp_helo_name director.example.com
    smtp_connect_timeout 5
    router_id LVS1
}
virtual_server 10.0.0.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    smtp_alert
    real_server 127.0.0.5 8080 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
virtual_server 10.0.0.2 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.6 8080 {
        smtp_alert
        MISC_CHECK {
            misc_path \"/bin/sh -c 'test -e /tmp/alert-ok'\"
            retry 0
        }
    }
    real_server 127.0.0.7 8081 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server 127.0.0.8 8080 {
        smtp_alert off
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
";

fn guest() -> Option<Guest> {
    let sink = format!(
        "{}/tests/data/smtp_alert/sink.sh",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&sink).unwrap_or_else(|e| panic!("{sink}: {e}"));
    let spec = lvsd_vm::with_lvsd!(GuestSpec::new("kernel_smtp_alert").net_tools().keepalived())
        .bytes("/etc/smtp-alert/sink.sh", bytes, 0o755)
        .bytes("/etc/smtp-alert/alert.conf", CONFIG, 0o644);
    lvsd_vm::boot_or_skip(spec)
}

/// One mail as the sink saw it, the date taken out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Mail {
    subject: String,
    dialog: Vec<String>,
}

/// Runs `command` through the story; returns the mails it sent.
fn story(guest: &mut Guest, name: &str, command: &str) -> Vec<Mail> {
    guest.run_ok(
        "rm -rf /run/smtp-alert; mkdir -p /run/smtp-alert; touch /tmp/alert-ok; ipvsadm -C",
    );
    guest.spawn("be5", "lvsd-backend 127.0.0.5:8080").unwrap();
    guest.spawn("be8", "lvsd-backend 127.0.0.8:8080").unwrap();
    guest
        .wait_for(
            "grep -q listening /run/bg/be5.log && grep -q listening /run/bg/be8.log",
            Duration::from_secs(10),
        )
        .unwrap();
    guest.spawn(name, command).unwrap();
    // Started: VS 10.0.0.1 gains its quorum, 127.0.0.7 is down.
    std::thread::sleep(Duration::from_secs(5));
    guest.run_ok("kill $(cat /run/bg/be5.pid) $(cat /run/bg/be8.pid); rm /tmp/alert-ok");
    std::thread::sleep(Duration::from_secs(5));
    guest.spawn("be5", "lvsd-backend 127.0.0.5:8080").unwrap();
    guest.spawn("be8", "lvsd-backend 127.0.0.8:8080").unwrap();
    guest.run_ok("touch /tmp/alert-ok");
    std::thread::sleep(Duration::from_secs(5));
    let log = guest.stop(name).unwrap();
    guest.run_ok("kill $(cat /run/bg/be5.pid) $(cat /run/bg/be8.pid); ipvsadm -C");
    // The last mails finish their dialogs.
    let done = guest.wait_for(
        "for f in /run/smtp-alert/*; do grep -q '^CLOSE' $f || exit 1; done",
        Duration::from_secs(10),
    );
    let files = guest.run_ok("for f in /run/smtp-alert/*; do cat $f; echo END; done");
    done.unwrap_or_else(|e| panic!("{name}: a mail was not finished: {e}\n{files}\n{log}"));
    let mut mails: Vec<Mail> = files
        .split("END\n")
        .filter(|m| !m.trim().is_empty())
        .map(|m| {
            let dialog: Vec<String> = m
                .lines()
                .filter(|l| !l.starts_with("C: Date: "))
                .map(str::to_string)
                .collect();
            let subject = dialog
                .iter()
                .find_map(|l| l.strip_prefix("C: Subject: "))
                .unwrap_or_default()
                .to_string();
            Mail { subject, dialog }
        })
        .collect();
    mails.sort();
    eprintln!("{name}'s log:\n{log}");
    eprintln!("{name}: {} mails:", mails.len());
    for m in &mails {
        eprintln!("  {}", m.subject);
    }
    mails
}

#[test]
fn lvsd_mails_what_keepalived_2_2_7_mails() {
    let Some(mut guest) = guest() else { return };
    guest
        .spawn("sink", "busybox nc -ll -p 2525 -e /etc/smtp-alert/sink.sh")
        .unwrap();
    let keepalived = story(
        &mut guest,
        "keepalived",
        "keepalived -C -n -l -D -f /etc/smtp-alert/alert.conf",
    );
    let lvsd = story(
        &mut guest,
        "lvsd",
        "lvsd -n -l -f /etc/smtp-alert/alert.conf --state-file /tmp/lvsd-alert.json",
    );
    let subjects =
        |mails: &[Mail]| -> Vec<String> { mails.iter().map(|m| m.subject.clone()).collect() };
    // What keepalived does, so that the comparison means something.
    let ka = subjects(&keepalived);
    for want in [
        "[LVS1] Virtualserver [10.0.0.1]:tcp:80 - UP\\r",
        "[LVS1] Realserver [127.0.0.5]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - DOWN\\r",
        "[LVS1] Realserver [127.0.0.6]:tcp:8080 of virtual server [10.0.0.2]:tcp:80 - DOWN\\r",
        "[LVS1] Realserver [127.0.0.7]:tcp:8081 of virtual server [10.0.0.2]:tcp:80 - DOWN\\r",
    ] {
        assert!(
            ka.iter().any(|s| s == want),
            "keepalived sent no `{want}`: {ka:#?}"
        );
    }
    assert!(
        !ka.iter().any(|s| s.contains("127.0.0.8")),
        "keepalived mailed about a real server with smtp_alert off: {ka:#?}"
    );
    // keepalived also mails UP at a MISC_CHECK's first success, which
    // changes nothing (the real server started up); lvsd mails changes
    // only (docs/differences.md).
    let mut ka_changes = keepalived.clone();
    let first_misc_up = ka_changes
        .iter()
        .position(|m| m.subject.contains("[127.0.0.6]") && m.subject.contains("- UP"));
    if let Some(i) = first_misc_up {
        ka_changes.remove(i);
    }
    let ka = subjects(&ka_changes);
    assert_eq!(subjects(&lvsd), ka, "the subjects differ");
    for (k, l) in ka_changes.iter().zip(&lvsd) {
        assert_eq!(l.dialog, k.dialog, "the dialogs of `{}` differ", k.subject);
    }
}
