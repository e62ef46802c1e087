//! `SSL_GET` in a real kernel, keepalived 2.2.7 and lvsd in the same boot
//! against the same `openssl s_server` backends: the settled `ipvsadm -Sn`
//! is the same under both, row by row.
//!
//! | real server | backend | with the `SSL` block | without |
//! |---|---|---|---|
//! | 10.1.0.1:443 | self-signed certificate for another name | up | up |
//! | 10.1.0.2:443 | expired certificate | up | up |
//! | 10.1.0.3:443 | requires a client certificate signed by our CA | up | down |
//! | 10.1.0.4:444 | accepts and never answers the ClientHello | down | down |
//!
//! One boot; the host tests (`tests/checker_tls.rs`) carry the details
//! (TLS versions, SNI, sessions, resets). Needs qemu, the cached kernel,
//! keepalived and openssl (`bash .ci/setup`); skips without them unless
//! `CI=true`.

mod tls_support;

use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec, SharedGuest};

static GUEST: SharedGuest = SharedGuest::new();

const DIR: &str = "/etc/lvsd-tls";

fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    if !tls_support::have_openssl() {
        return None;
    }
    let mut guest = GUEST.get(|| {
        let certs = tls_support::Certs::new();
        let spec = GuestSpec::new("kernel_tls")
            .net_tools()
            .keepalived()
            .tool("openssl")
            .module("dummy")
            .binary_at(env!("CARGO_BIN_EXE_lvsd"), "/usr/local/bin/lvsd")
            .dir(DIR);
        let files = [
            "self.pem",
            "self.key",
            "expired.pem",
            "expired.key",
            "ca.pem",
            "client.pem",
            "client.key",
        ];
        // Read now: the temporary directory goes when this returns.
        files.iter().fold(spec, |spec, f| {
            let data = std::fs::read(certs.path(f)).expect("certificate file");
            spec.bytes(&format!("{DIR}/{f}"), data, 0o600)
        })
    })?;
    guest.run_ok(&format!(
        "ip link show backends >/dev/null 2>&1 && exit 0
        ip link set lo up
        ip link add backends type dummy
        ip link set backends up
        for i in 1 2 3 4; do ip addr add 10.1.0.$i/32 dev backends; done
        cd {DIR}
        setsid openssl s_server -www -accept 10.1.0.1:443 -cert self.pem -key self.key >/dev/null 2>&1 </dev/null &
        setsid openssl s_server -www -accept 10.1.0.2:443 -cert expired.pem -key expired.key >/dev/null 2>&1 </dev/null &
        setsid openssl s_server -www -accept 10.1.0.3:443 -cert self.pem -key self.key -Verify 1 -CAfile ca.pem >/dev/null 2>&1 </dev/null &
        (sleep 100000 | setsid busybox nc -l -p 444 >/dev/null 2>&1) &"
    ));
    // Every backend listens before the first run (s_client's connection
    // is one more for the s_servers, served before the checks' own).
    for ip in ["10.1.0.1", "10.1.0.2", "10.1.0.3"] {
        guest
            .wait_for(
                &format!("openssl s_client -connect {ip}:443 </dev/null 2>&1 | grep -q CONNECTED"),
                Duration::from_secs(20),
            )
            .unwrap_or_else(|e| panic!("s_server on {ip}: {e}"));
    }
    Some(guest)
}

/// The config: the four real servers, each with an `SSL_GET`, after `ssl`.
fn config(ssl: &str) -> String {
    let rs = |ip: &str, port: u16| {
        format!(
            "  real_server {ip} {port} {{\n    SSL_GET {{\n      url {{\n        path /\n      }}\n      connect_timeout 2\n      retry 0\n    }}\n  }}\n"
        )
    };
    format!(
        "{ssl}virtual_server 10.9.0.100 443 {{\n  delay_loop 2\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{}{}{}{}}}\n",
        rs("10.1.0.1", 443),
        rs("10.1.0.2", 443),
        rs("10.1.0.3", 443),
        rs("10.1.0.4", 444)
    )
}

/// The table `command` settles on with config `text` (waits for `expected`
/// up to 20 s), and its log.
fn settled(guest: &mut Guest, who: &str, command: &str, expected: &[&str]) -> (String, String) {
    guest.run_ok("ipvsadm -C");
    let want: String = expected.iter().map(|l| format!("{l}\n")).collect();
    guest.write_file("/tmp/expected", want.as_bytes()).unwrap();
    guest.spawn(who, command).unwrap();
    let _ = guest.wait_for(
        "[ \"$(ipvsadm -Sn | sort)\" = \"$(cat /tmp/expected)\" ]",
        Duration::from_secs(20),
    );
    // A verdict that comes later than the expected table would still show.
    std::thread::sleep(Duration::from_secs(3));
    let table = guest.run_ok("ipvsadm -Sn | sort");
    let log = guest.stop(who).unwrap();
    guest.run_ok("ipvsadm -C");
    (table, log)
}

fn compare(ssl: bool, expected: &[&str]) {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    let block = match ssl {
        true => format!("SSL {{\n  certificate {DIR}/client.pem\n  key {DIR}/client.key\n}}\n"),
        false => String::new(),
    };
    let conf = format!("{DIR}/keepalived-{ssl}.conf");
    guest.write_file(&conf, config(&block).as_bytes()).unwrap();
    let mut want = expected.to_vec();
    want.sort_unstable();
    let want: String = want.iter().map(|l| format!("{l}\n")).collect();
    for (who, command) in [
        ("keepalived", format!("keepalived -C -n -l -f {conf}")),
        (
            "lvsd",
            format!("lvsd -n -l -f {conf} --state-file /tmp/lvsd-tls.json"),
        ),
    ] {
        let (table, log) = settled(guest, who, &command, expected);
        assert_eq!(
            table, want,
            "{who}'s settled table (SSL block: {ssl})\n{who} log:\n{log}"
        );
    }
}

#[test]
fn with_the_client_certificate() {
    compare(
        true,
        &[
            "-A -t 10.9.0.100:443 -s rr",
            "-a -t 10.9.0.100:443 -r 10.1.0.1:443 -m -w 1",
            "-a -t 10.9.0.100:443 -r 10.1.0.2:443 -m -w 1",
            "-a -t 10.9.0.100:443 -r 10.1.0.3:443 -m -w 1",
        ],
    );
}

#[test]
fn without_the_client_certificate() {
    compare(
        false,
        &[
            "-A -t 10.9.0.100:443 -s rr",
            "-a -t 10.9.0.100:443 -r 10.1.0.1:443 -m -w 1",
            "-a -t 10.9.0.100:443 -r 10.1.0.2:443 -m -w 1",
        ],
    );
}
