//! The real-kernel harness (`tests/vm`) proves what later kernel tests rely
//! on, all in ONE guest: IPVS is there and `ipvsadm` reads back what was
//! written; network namespaces and veth pairs work; keepalived 2.2.7
//! manages IPVS there; our binaries run there; the channel survives a
//! script that times out.
//!
//! Needs qemu and the cached kernel (`bash .ci/setup`); skips without
//! them unless `CI=true`.

use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec, SharedGuest, VmError};

static GUEST: SharedGuest = SharedGuest::new();

/// The guest every test here shares: net tools, keepalived, our binaries.
fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    GUEST.get(|| lvsd_vm::with_lvsd!(GuestSpec::new("kernel_harness").net_tools().keepalived()))
}

/// A namespace `rs` behind a veth pair: root side 10.200.0.1, `rs` side
/// 10.200.0.2 (inside the guest only; the guest has no network device).
const MAKE_NETNS: &str = "
ip netns add rs
ip link add veth-lb type veth peer name veth-rs
ip link set veth-rs netns rs
ip addr add 10.200.0.1/24 dev veth-lb
ip link set veth-lb up
ip netns exec rs ip addr add 10.200.0.2/24 dev veth-rs
ip netns exec rs ip link set veth-rs up
ip netns exec rs ip link set lo up
";

/// Makes the `rs` namespace once per guest.
fn ensure_netns(guest: &mut Guest) {
    guest.run_ok(&format!(
        "[ -e /run/netns/rs ] || {{ set -e; {MAKE_NETNS} }}"
    ));
}

#[test]
fn ip_vs_module_is_loaded() {
    let Some(mut guest) = guest() else { return };
    let modules = guest.run_ok("cut -d' ' -f1 /proc/modules");
    for m in [
        "ip_vs",
        "ip_vs_rr",
        "ip_vs_wrr",
        "ip_vs_mh",
        "nf_conntrack",
        "veth",
        "sch_netem",
    ] {
        assert!(modules.lines().any(|l| l == m), "{m} not loaded: {modules}");
    }
    let version = guest.run_ok("head -1 /proc/net/ip_vs");
    assert!(
        version.starts_with("IP Virtual Server version"),
        "{version}"
    );
}

#[test]
fn ipvsadm_reads_back_what_it_wrote() {
    let Some(mut guest) = guest() else { return };
    // Table entries only: no packet is sent. Note that ipvsadm gives a
    // direct-routing (-g) real server the virtual port.
    let saved = guest.run_ok(
        "set -e
        ipvsadm -C
        ipvsadm -A -t 10.1.1.1:80 -s rr
        ipvsadm -a -t 10.1.1.1:80 -r 10.200.0.2:8080 -m -w 3
        ipvsadm -a -t 10.1.1.1:80 -r 10.200.0.3 -g -w 0
        ipvsadm -A -u [2001:db8::1]:53 -s wlc
        ipvsadm -a -u [2001:db8::1]:53 -r [2001:db8::2]:5353 -m -w 1
        ipvsadm -Sn
        ipvsadm -C",
    );
    assert_eq!(
        saved,
        "-A -t 10.1.1.1:80 -s rr\n\
         -a -t 10.1.1.1:80 -r 10.200.0.2:8080 -m -w 3\n\
         -a -t 10.1.1.1:80 -r 10.200.0.3:80 -g -w 0\n\
         -A -u [2001:db8::1]:53 -s wlc\n\
         -a -u [2001:db8::1]:53 -r [2001:db8::2]:5353 -m -w 1\n"
    );
}

#[test]
fn netns_veth_carries_tcp_to_a_backend() {
    let Some(mut guest) = guest() else { return };
    ensure_netns(&mut guest);
    guest.run_ok("ping -c 1 -W 5 10.200.0.2");
    guest
        .spawn(
            "backend",
            "ip netns exec rs lvsd-backend --stats 10.200.0.2:8080",
        )
        .unwrap();
    guest
        .wait_for(
            "grep -q listening /run/bg/backend.log",
            Duration::from_secs(20),
        )
        .unwrap();
    // bash's /dev/tcp: connect from the root namespace, send, close (FIN).
    guest.run_ok("exec 5<>/dev/tcp/10.200.0.2/8080; echo hello >&5; exec 5>&-");
    let counted = guest.wait_for(
        "kill -USR1 $(cat /run/bg/backend.pid); sleep 0.2; \
         grep -q 'conns=1 eof=1 reset=0 error=0' /run/bg/backend.log",
        Duration::from_secs(20),
    );
    let log = guest.stop("backend").unwrap();
    counted.unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert!(log.contains("listening 10.200.0.2:8080"), "{log}");
    assert!(
        log.ends_with("stats 10.200.0.2:8080 conns=1 eof=1 reset=0 error=0\n"),
        "{log}"
    );
}

#[test]
fn keepalived_checker_manages_ipvs() {
    let Some(mut guest) = guest() else { return };
    ensure_netns(&mut guest);
    guest
        .write_file(
            "/etc/keepalived/harness.conf",
            b"virtual_server 10.1.2.3 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.200.0.2 8081 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.200.0.2 8082 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
",
        )
        .unwrap();
    // 8081 answers, 8082 does not. keepalived 2.2.7 puts both in the table at
    // start, then removes 8082 when its first check fails.
    guest.run_ok("ipvsadm -C");
    guest
        .spawn(
            "ka-backend",
            "ip netns exec rs lvsd-backend 10.200.0.2:8081",
        )
        .unwrap();
    guest
        .spawn(
            "keepalived",
            "keepalived -C -n -l -f /etc/keepalived/harness.conf",
        )
        .unwrap();
    let converged = guest.wait_for(
        "t=$(ipvsadm -Sn); [[ $t == *8081* && $t != *8082* ]]",
        Duration::from_secs(20),
    );
    let table = guest.run_ok("ipvsadm -Sn");
    let log = guest.stop("keepalived").unwrap();
    guest.stop("ka-backend").unwrap();
    guest.run_ok("ipvsadm -C");
    converged.unwrap_or_else(|e| panic!("{e}\ntable:\n{table}\nkeepalived log:\n{log}"));
    assert_eq!(
        table, "-A -t 10.1.2.3:80 -s rr\n-a -t 10.1.2.3:80 -r 10.200.0.2:8081 -m -w 1\n",
        "keepalived log:\n{log}"
    );
    assert!(log.contains("Starting Keepalived v2.2.7"), "{log}");
}

#[test]
fn our_binaries_run_in_the_guest() {
    let Some(mut guest) = guest() else { return };
    let version = guest.run_ok("lvsd --version");
    assert!(version.starts_with("lvsd "), "{version}");
    let out = guest.run("lvsd-backend 127.0.0.1:99999").unwrap();
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stderr.contains("bad address"), "{out}");
}

#[test]
fn a_script_past_its_timeout_is_killed_and_the_guest_stays_usable() {
    let Some(mut guest) = guest() else { return };
    match guest.run_timeout("echo started; sleep 30", Duration::from_secs(1)) {
        Err(VmError::Timeout(msg)) => assert!(msg.contains("sleep 30"), "{msg}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let out = guest.run("printf 'a\\nb'; echo oops >&2; exit 7").unwrap();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.status),
        ("a\nb", "oops\n", 7)
    );
}
