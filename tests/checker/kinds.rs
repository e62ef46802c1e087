//! HTTP_GET and MISC_CHECK probes on loopback (no root needed, except to run
//! a MISC_CHECK as another user).

use crate::checker_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use checker_support::tcp_check;
use lvsd::checker::{probe, WeightAsk};
use lvsd::config::{Check, HttpCheck, HttpProtocol, MiscCheck, Url};
use lvsd::script_policy::{lookup_user, RunAs, ScriptPolicy};

/// A loopback HTTP server answering every request with `answer`, after
/// reading the request head; it closes first, like HTTP/1.0 servers do.
fn http_server(answer: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            assert!(head.starts_with(b"GET /health HTTP/1.0\r\n"));
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    port
}

fn http(port: u16, codes: Vec<(u16, u16)>, digest: Option<&str>) -> Check {
    Check::Http(Box::new(HttpCheck {
        common: tcp_check("127.0.0.1", port),
        tls: false,
        tls_options: Default::default(),
        urls: vec![Url {
            digest: digest.map(String::from),
            status_codes: if codes.is_empty() {
                vec![(200, 299)]
            } else {
                codes
            },
            ..Url::new("/health")
        }],
        virtualhost: Some("www.example.test".into()),
        protocol: HttpProtocol::Http10,
        fast_recovery: false,
    }))
}

#[tokio::test]
async fn http_get_checks_status_and_digest() {
    let ok = http_server("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    let result = probe::attempt(&http(ok, vec![], None)).await;
    assert!(result.ok, "{result:?}");
    let digest = Some("5d41402abc4b2a76b9719d911017c592");
    assert!(probe::attempt(&http(ok, vec![], digest)).await.ok);
    let wrong = probe::attempt(&http(ok, vec![], Some("00"))).await;
    assert!(!wrong.ok && wrong.reason.contains("digest"), "{wrong:?}");

    let error = http_server("HTTP/1.0 500 Oops\r\n\r\n");
    let result = probe::attempt(&http(error, vec![], None)).await;
    assert!(
        !result.ok && result.reason.contains("status code error: 500"),
        "{result:?}"
    );
    assert!(
        probe::attempt(&http(error, vec![(500, 599)], None))
            .await
            .ok
    );
}

#[tokio::test]
async fn http_get_to_a_closed_port_fails() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = probe::attempt(&http(port, vec![], None)).await;
    assert!(
        !result.ok && result.reason.contains("refused"),
        "{result:?}"
    );
}

fn misc(path: &str, timeout_ms: Option<u64>, dynamic: bool) -> Check {
    misc_as(path, timeout_ms, dynamic, None)
}

fn misc_as(path: &str, timeout_ms: Option<u64>, dynamic: bool, user: Option<&str>) -> Check {
    Check::Misc(Box::new(MiscCheck {
        common: tcp_check("127.0.0.1", 1),
        path: path.into(),
        timeout: timeout_ms.map(Duration::from_millis),
        dynamic,
        user: user.map(|u| {
            Box::new(lvsd::config::Account {
                user: u.into(),
                group: None,
                user_at: Default::default(),
                group_at: None,
            })
        }),
    }))
}

#[tokio::test]
async fn misc_check_reads_the_exit_status() {
    assert!(probe::attempt(&misc("/bin/true", None, false)).await.ok);
    let down = probe::attempt(&misc("/bin/false", None, false)).await;
    assert!(!down.ok && down.reason == "exit status 1", "{down:?}");
    let missing = probe::attempt(&misc("/nonexistent/check", None, false)).await;
    assert!(
        !missing.ok && missing.reason.contains("cannot run"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn misc_check_times_out() {
    let result = probe::attempt(&misc("/bin/sleep 5", Some(200), false)).await;
    assert!(
        !result.ok && result.reason.contains("timed out"),
        "{result:?}"
    );
    assert!(result.latency < Duration::from_millis(400), "{result:?}");
}

#[tokio::test]
async fn misc_dynamic_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let script = |code: u8| {
        let path = dir.path().join(format!("exit{code}.sh"));
        std::fs::write(&path, format!("exit {code}\n")).unwrap();
        format!("/bin/sh {}", path.display())
    };
    let up = probe::attempt(&misc(&script(5), None, true)).await;
    assert!(up.ok && up.reason.contains("weight 3"), "{up:?}");
    assert_eq!(up.weight, Some(WeightAsk::Set(3)));
    let top = probe::attempt(&misc(&script(255), None, true)).await;
    assert_eq!((top.ok, top.weight), (true, Some(WeightAsk::Set(253))));
    // Exit 0 keeps the weight as it is; 1 is down.
    let zero = probe::attempt(&misc(&script(0), None, true)).await;
    assert_eq!((zero.ok, zero.weight), (true, None));
    let down = probe::attempt(&misc(&script(1), None, true)).await;
    assert_eq!((down.ok, down.weight), (false, None));
    // Without misc_dynamic, any non-zero exit is down and asks no weight.
    let plain = probe::attempt(&misc(&script(5), None, false)).await;
    assert_eq!((plain.ok, plain.weight), (false, None));
}

/// Whether this test may change users (root); panics under CI when not.
fn can_switch_users() -> bool {
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    checker_support::can_run(root, "needs root (to run a MISC_CHECK as `nobody`)")
}

/// A script `name` with `body` in a fresh directory of mode `dir_mode`, the
/// script itself root's and 0755.
fn script_in(dir_mode: u32, name: &str, body: &str) -> (tempfile::TempDir, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(dir_mode)).unwrap();
    let path = dir.path().join(name);
    // Written by `cp`, so that no process of this test's ever holds the
    // script open for writing: a fork by another test thread could inherit
    // that descriptor for an instant, and exec would fail with ETXTBSY.
    let source = dir.path().join(format!("{name}.text"));
    std::fs::write(&source, format!("#!/bin/sh\n{body}\n")).unwrap();
    let copied = std::process::Command::new("cp")
        .arg(&source)
        .arg(&path)
        .status()
        .unwrap();
    assert!(
        copied.success(),
        "cp {} {}",
        source.display(),
        path.display()
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = path.display().to_string();
    (dir, path)
}

/// Exits 0 only as `nobody` (uid 65534) with no supplementary group left.
const IS_NOBODY: &str = r#"[ "$(id -u)" = 65534 ] && [ "$(id -G)" = "$(id -g)" ]"#;

fn nobody() -> Option<RunAs> {
    Some(lookup_user("nobody", None).unwrap())
}

#[tokio::test]
async fn misc_check_runs_as_its_user_else_script_user() {
    if !can_switch_users() {
        return;
    }
    let (_dir, script) = script_in(0o755, "is_nobody.sh", IS_NOBODY);
    let as_lvsd = ScriptPolicy::default();
    let down = probe::attempt_with(&misc(&script, None, false), &as_lvsd).await;
    assert!(!down.ok && down.reason == "exit status 1", "{down:?}");
    let own = misc_as(&script, None, false, Some("nobody"));
    let up = probe::attempt_with(&own, &as_lvsd).await;
    assert!(up.ok, "{up:?}");

    // script_user applies to checks without a user of their own...
    let script_user_nobody = ScriptPolicy {
        user: nobody(),
        secure: false,
    };
    let up = probe::attempt_with(&misc(&script, None, false), &script_user_nobody).await;
    assert!(up.ok, "{up:?}");
    // ...and a check's user beats script_user.
    let script_user_root = ScriptPolicy {
        user: Some(RunAs { uid: 0, gid: 0 }),
        secure: false,
    };
    assert!(
        !probe::attempt_with(&misc(&script, None, false), &script_user_root)
            .await
            .ok
    );
    assert!(probe::attempt_with(&own, &script_user_root).await.ok);

    let unknown = misc_as(&script, None, false, Some("no-such-user-lvsd"));
    let down = probe::attempt_with(&unknown, &script_user_nobody).await;
    assert!(!down.ok, "{down:?}");
    assert_eq!(
        down.reason,
        r#"MISC_CHECK user: no user "no-such-user-lvsd""#
    );
}

#[tokio::test]
async fn enable_script_security_refuses_root_runs_of_writable_scripts() {
    if !can_switch_users() {
        return;
    }
    // A world-writable directory without the sticky bit: anyone may
    // replace the script.
    let (dir, script) = script_in(0o777, "check.sh", "exit 0");
    let secure = ScriptPolicy {
        user: None,
        secure: true,
    };
    let refused = probe::attempt_with(&misc(&script, None, false), &secure).await;
    assert!(!refused.ok, "{refused:?}");
    assert_eq!(
        refused.reason,
        format!(
            "enable_script_security: {} is writable by a non-root user",
            dir.path().display()
        )
    );
    // Not as root: keepalived refuses only root runs.
    let own = misc_as(&script, None, false, Some("nobody"));
    let up = probe::attempt_with(&own, &secure).await;
    assert!(up.ok, "{up:?}");
    let as_nobody = ScriptPolicy {
        user: nobody(),
        secure: true,
    };
    assert!(
        probe::attempt_with(&misc(&script, None, false), &as_nobody)
            .await
            .ok
    );
    // Without enable_script_security, root runs it.
    assert!(probe::attempt(&misc(&script, None, false)).await.ok);

    // Root's own script in root's own directory is fine as root.
    let (_safe_dir, safe) = script_in(0o755, "check.sh", "exit 0");
    let up = probe::attempt_with(&misc(&safe, None, false), &secure).await;
    assert!(up.ok, "{up:?}");
}

#[tokio::test]
async fn the_engine_runs_misc_checks_under_its_script_policy() {
    if !can_switch_users() {
        return;
    }
    let (_dir, script) = script_in(0o755, "is_nobody.sh", IS_NOBODY);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut engine = lvsd::checker::Engine::new(tx).unwrap();
    engine.set_script_policy(ScriptPolicy {
        user: nobody(),
        secure: false,
    });
    let spec = lvsd::checker::ProbeSpec::new(&misc(&script, None, false));
    engine.set_probes(vec![(spec, false)]);
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a verdict within 10 s")
        .expect("the engine runs");
    assert!(event.result.ok, "{:?}", event.result);
    engine.set_probes(Vec::new());
}
