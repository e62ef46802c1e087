//! Draining in a real kernel (see `tests/vm`): 50 long-lived TCP
//! connections through IPVS (NAT) to a real server that is then drained. It
//! keeps all 50 at weight 0, gets none of the next 50, drift repair keeps it
//! at 0, a restart (`kill -9`) in the middle resumes the drain with its
//! deadline, and it is deleted within one `--drain-poll` of its last
//! connection's end; counts read with `ipvsadm -Ln`, an independent reader.
//! Then a reload that removes a real server drains it, a reload that brings
//! it back cancels, a reload that removes a whole virtual server keeps its
//! service with its real servers drained, and with `--drain-timeout 0` a
//! reload deletes a real server at once, as keepalived does.
//!
//! The guest: backends `lvsd-backend` in namespaces rs1, rs2
//! (10.201.N.2:80; TCP_CHECK on :81, a separate process, so the service on
//! :80 can end while the real server stays healthy), a client namespace cl
//! (10.201.9.2) whose bash holds connections open with `/dev/tcp`, the
//! virtual address 10.11.0.1 on the guest's lo. `lvs_timeouts tcpfin 4`
//! lets a connection the backend closed leave IPVS in 4 s.
//!
//! Needs qemu and the cached kernel (`bash .ci/setup`); skips without them
//! unless `CI=true`.

use std::time::{Duration, Instant};

use lvsd_vm::{Guest, GuestSpec};

const SETUP: &str = r#"
echo 1 > /proc/sys/net/ipv4/ip_forward
ip link set lo up
ip addr add 10.11.0.1/32 dev lo
ip addr add 10.11.0.2/32 dev lo
mk() {
  ip netns add $1
  ip link add veth-$1 type veth peer name eth0 netns $1
  ip addr add 10.201.$2.1/24 dev veth-$1
  ip link set veth-$1 up
  ip netns exec $1 ip addr add 10.201.$2.2/24 dev eth0
  ip netns exec $1 ip link set eth0 up
  ip netns exec $1 ip link set lo up
  ip netns exec $1 ip route add default via 10.201.$2.1
}
mk rs1 1 && mk rs2 2 && mk cl 9 && mkdir -p /run/drain
"#;

fn config(with_rs2: bool) -> String {
    let rs = |n: u32| {
        format!(
            "    real_server 10.201.{n}.2 80 {{\n        weight 1\n        TCP_CHECK {{\n            connect_port 81\n            connect_timeout 2\n        }}\n    }}\n"
        )
    };
    format!(
        "global_defs {{\n    lvs_timeouts tcp 900 tcpfin 4 udp 300\n}}\n\
         virtual_server 10.11.0.1 80 {{\n    delay_loop 2\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{}{}}}\n",
        rs(1),
        if with_rs2 { rs(2) } else { String::new() }
    )
}

const LVSD: &str = "lvsd -n -l -f /run/drain/k.conf --state-file /run/drain/state.json --drain-poll 1 --drift-interval 1";

/// Weight, ActiveConn, InActConn of real server `rs` as `ipvsadm -Ln` shows
/// it; `None` when it is not in the table.
fn counts(guest: &mut Guest, rs: &str) -> Option<(i64, i64, i64)> {
    counts_in(guest, "10.11.0.1:80", rs)
}

/// [`counts`] in the service of virtual address `vs` (`IP:PORT`).
fn counts_in(guest: &mut Guest, vs: &str, rs: &str) -> Option<(i64, i64, i64)> {
    let table = guest.run_ok("ipvsadm -Ln");
    let mut service = "";
    table.lines().find_map(|line| {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 2 && w[0] == "TCP" {
            service = w[1];
        }
        (w.len() >= 6 && w[0] == "->" && w[1] == rs && service == vs).then(|| {
            let n = |i: usize| w[i].parse::<i64>().unwrap();
            (n(3), n(4), n(5))
        })
    })
}

/// Until `counts` of `rs` are `want`, within `secs`.
fn wait_counts(guest: &mut Guest, rs: &str, want: Option<(i64, i64, i64)>, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let now = counts(guest, rs);
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{rs}: {now:?}, not {want:?} after {secs} s\n{}",
            guest.run_ok("ipvsadm -Ln; cat /run/bg/lvsd*.log | tail -30")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// 50 connections to the virtual server held open by one bash in cl.
fn connect_50(guest: &mut Guest, name: &str) {
    connect(guest, name, "10.11.0.1", 50);
}

/// `n` connections to `vip`:80 held open by one bash in cl.
fn connect(guest: &mut Guest, name: &str, vip: &str, n: u32) {
    guest
        .spawn(
            name,
            &format!("ip netns exec cl bash -c 'for i in $(seq {n}); do exec {{fd}}<>/dev/tcp/{vip}/80 || exit 1; done; echo opened; exec sleep 100000'"),
        )
        .unwrap();
    guest
        .wait_for(
            &format!("grep -q opened /run/bg/{name}.log"),
            Duration::from_secs(20),
        )
        .unwrap();
}

fn ctl(guest: &mut Guest, args: &str) -> String {
    guest.run_ok(&format!("lvsd ctl {args}"))
}

fn start_lvsd(guest: &mut Guest, name: &str, extra: &str) {
    guest.spawn(name, &format!("{LVSD} {extra}")).unwrap();
    guest
        .wait_for(
            &format!("grep -q 'lvsd started' /run/bg/{name}.log"),
            Duration::from_secs(20),
        )
        .unwrap();
}

#[test]
fn a_drained_real_server_keeps_its_connections_takes_no_new_ones_and_goes_when_they_end() {
    let mut guest = lvsd_vm::require_guest!(lvsd_vm::with_lvsd!(
        GuestSpec::new("kernel_drain").net_tools()
    ));
    guest.run_ok(SETUP);
    guest
        .spawn("b1-80", "ip netns exec rs1 lvsd-backend 10.201.1.2:80")
        .unwrap();
    guest
        .spawn("b1-81", "ip netns exec rs1 lvsd-backend 10.201.1.2:81")
        .unwrap();
    guest
        .spawn(
            "b2",
            "ip netns exec rs2 lvsd-backend 10.201.2.2:80 10.201.2.2:81",
        )
        .unwrap();
    guest
        .write_file("/run/drain/k.conf", config(true).as_bytes())
        .unwrap();
    start_lvsd(&mut guest, "lvsd", "");
    let (rs1, rs2) = ("10.201.1.2:80", "10.201.2.2:80");
    wait_counts(&mut guest, rs2, Some((1, 0, 0)), 10);

    // The first 50 all to rs1 (rs2 disabled meanwhile).
    ctl(&mut guest, "disable 10.201.2.2");
    wait_counts(&mut guest, rs2, None, 5);
    connect_50(&mut guest, "client1");
    wait_counts(&mut guest, rs1, Some((1, 50, 0)), 10);

    // Drained: weight 0, keeps its 50; the next 50 all go to rs2.
    ctl(&mut guest, "enable 10.201.2.2");
    let drained_at = Instant::now();
    let out = ctl(&mut guest, "drain 10.201.1.2:80 --timeout 600");
    assert!(out.contains("draining"), "{out}");
    wait_counts(&mut guest, rs1, Some((0, 50, 0)), 5);
    wait_counts(&mut guest, rs2, Some((1, 0, 0)), 5);
    connect_50(&mut guest, "client2");
    wait_counts(&mut guest, rs2, Some((1, 50, 0)), 10);
    assert_eq!(
        counts(&mut guest, rs1),
        Some((0, 50, 0)),
        "got none of the next 50"
    );

    // Drift repair keeps the drain's weight.
    guest.run_ok("ipvsadm -e -t 10.11.0.1:80 -r 10.201.1.2:80 -m -w 1");
    wait_counts(&mut guest, rs1, Some((0, 50, 0)), 5);

    // kill -9 and a restart: the drain resumes with its deadline (the very
    // same instant, as admin-state.json holds it), nothing written.
    let deadline = |guest: &mut Guest| {
        let file = guest.run_ok("cat /run/lvsd/admin-state.json");
        let state: serde_json::Value = serde_json::from_str(&file).unwrap();
        state["entries"][0]["drain"]["deadline_ms"]
            .as_u64()
            .unwrap()
    };
    let before = deadline(&mut guest);
    guest.signal("lvsd", "KILL").unwrap();
    start_lvsd(&mut guest, "lvsd2", "");
    let started = guest.run_ok("grep 'lvsd started' /run/bg/lvsd2.log");
    assert!(started.contains("changes=0"), "{started}");
    let rs: serde_json::Value = serde_json::from_str(&ctl(&mut guest, "--json show rs")).unwrap();
    let row = rs["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rs"] == rs1)
        .unwrap()
        .clone();
    assert_eq!(row["admin"], "draining", "{rs}");
    let left = row["drain_left_s"].as_u64().unwrap();
    let elapsed = drained_at.elapsed().as_secs();
    assert!(left <= 600 - elapsed + 5, "left {left} s after {elapsed} s");
    assert_eq!(deadline(&mut guest), before, "the same deadline");
    assert_eq!(counts(&mut guest, rs1), Some((0, 50, 0)));

    // The service on rs1 ends its 50 connections: deleted within one poll
    // (1 s) of the kernel counting none.
    guest.stop("b1-80").unwrap();
    let watched = guest.run_ok(
        "start=$EPOCHREALTIME; t0=; end=$(( ${EPOCHREALTIME%.*} + 30 ))
         while [ ${EPOCHREALTIME%.*} -lt $end ]; do
           line=$(ipvsadm -Ln | grep ' 10.201.1.2:80 ')
           if [ -z \"$line\" ]; then g=$EPOCHREALTIME; echo \"gone $g ${t0:-$g} $start\"; exit 0; fi
           set -- $line
           [ -z \"$t0\" ] && [ $(($5 + $6)) -eq 0 ] && t0=$EPOCHREALTIME
           sleep 0.05
         done; echo never",
    );
    let w: Vec<&str> = watched.split_whitespace().collect();
    assert_eq!(w.first(), Some(&"gone"), "{watched}");
    let (gone, zero): (f64, f64) = (w[1].parse().unwrap(), w[2].parse().unwrap());
    assert!(
        gone - zero <= 1.0 + 0.8,
        "deleted {:.2} s after the last connection ended",
        gone - zero
    );
    // Not before the kernel let go of the closed connections (FIN_WAIT
    // entries, counted as inactive, live `tcpfin` = 4 s): a drain that
    // counted active connections only would end within a poll of the stop.
    let since_stop = gone - w[3].parse::<f64>().unwrap();
    assert!(
        since_stop >= 2.5,
        "deleted {since_stop:.2} s after the backend closed its connections: {watched}"
    );
    assert_eq!(counts(&mut guest, rs2), Some((1, 50, 0)), "rs2 untouched");
    let log = guest.run_ok("cat /run/bg/lvsd2.log");
    assert!(
        log.contains("drain ended") && log.contains("completed"),
        "{log}"
    );

    // A reload that removes rs2 drains it: weight 0, its 50 kept.
    ctl(&mut guest, "enable 10.201.1.2");
    wait_counts(&mut guest, rs1, Some((1, 0, 0)), 5);
    guest
        .write_file("/run/drain/k.conf", config(false).as_bytes())
        .unwrap();
    ctl(&mut guest, "reload");
    assert_eq!(
        counts(&mut guest, rs2),
        Some((0, 50, 0)),
        "drained, not deleted"
    );
    // Listed again: cancelled, its weight back.
    guest
        .write_file("/run/drain/k.conf", config(true).as_bytes())
        .unwrap();
    ctl(&mut guest, "reload");
    assert_eq!(counts(&mut guest, rs2), Some((1, 50, 0)));

    // A reload that removes a whole virtual server drains its real
    // servers: its service stays, they stay at weight 0 with their
    // connections.
    let vs2 = "virtual_server 10.11.0.2 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 10.201.2.2 80 {\n        weight 1\n    }\n}\n";
    guest
        .write_file("/run/drain/k.conf", (config(true) + vs2).as_bytes())
        .unwrap();
    ctl(&mut guest, "reload");
    connect(&mut guest, "client3", "10.11.0.2", 5);
    assert_eq!(counts_in(&mut guest, "10.11.0.2:80", rs2), Some((1, 5, 0)));
    guest
        .write_file("/run/drain/k.conf", config(true).as_bytes())
        .unwrap();
    ctl(&mut guest, "reload");
    assert_eq!(
        counts_in(&mut guest, "10.11.0.2:80", rs2),
        Some((0, 5, 0)),
        "kept, drained"
    );
    let shown = ctl(&mut guest, "show rs");
    assert!(
        shown.contains("(removed)") && shown.contains("draining"),
        "{shown}"
    );

    // --drain-timeout 0: a reload deletes at once, as keepalived does.
    guest.signal("lvsd2", "KILL").unwrap();
    start_lvsd(&mut guest, "lvsd3", "--drain-timeout 0");
    guest
        .write_file("/run/drain/k.conf", config(false).as_bytes())
        .unwrap();
    ctl(&mut guest, "reload");
    assert_eq!(counts(&mut guest, rs2), None, "deleted at once");
    guest.stop("lvsd3").unwrap();
}
