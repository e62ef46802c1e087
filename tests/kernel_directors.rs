//! Two directors in a real kernel (see `tests/vm`): keepalived 2.2.7 `-P`
//! (VRRP only) and lvsd on each, the kernel's connection sync daemon
//! copying the active director's connections to the standby, and 100
//! long-lived connections through a failover and a failback.
//!
//! The guest, one bridge `br0` and four namespaces on it (10.50.0.0/24):
//!
//! ```text
//!   cl 10.50.0.2 ──┐             ┌── d1 10.50.0.11  keepalived -P (priority 150) + lvsd
//!                  ├── br0 ──────┼── d2 10.50.0.12  keepalived -P (priority 100) + lvsd
//!   rs 10.50.0.21 ─┘             (VIP 10.50.0.100, held by the VRRP master)
//! ```
//!
//! Direct routing: the client's packets reach the master director, which
//! hands them to `rs` (the VIP on its `lo`, ARP ignored); `rs` answers the
//! client straight. `lvsd-flows hold` keeps 100 connections each sending a
//! line every 200 ms and reading its echo (`lvsd-flows echo` on `rs`).
//! They retransmit a lost line every RTO (thin-stream linear timeouts; the
//! client's route sets the RTO to 800 ms): with TCP's default exponential
//! backoff a connection waits for its first retransmission after the
//! takeover, 3.0 or 6.2 s after the loss, whatever the directors do.
//! Cutting d1's port on the bridge makes d2 master; bringing it back makes
//! d1 master again (preempt). With `lvs_sync_daemon eth0 VI_1`, which
//! keepalived's VRRP drives and lvsd only watches, all 100 live through
//! both moves, none silent longer than that move's takeover plus 1 s
//! (`lvsd-flows` reports each move's longest silence), and both
//! directors list the same connections (`ipvsadm -Lnc`) within 2 s; neither
//! program logs a sync daemon error, and lvsd's state dump shows the
//! daemons as keepalived set them. The same run without `lvs_sync_daemon`
//! loses every connection at the failover (the new master has no entry for
//! them and its own stack resets them): the test can fail.
//!
//! Needs qemu, the cached kernel and keepalived (`bash .ci/setup`); skips
//! without them unless `CI=true`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lvsd_vm::{Guest, GuestSpec};

const VIP: &str = "10.50.0.100";

const SETUP: &str = r#"
ip link add br0 type bridge && ip link set br0 up
mk() {
  ip netns add $1
  ip link add v-$1 type veth peer name eth0 netns $1
  ip link set v-$1 master br0 up
  ip -n $1 addr add 10.50.0.$2/24 dev eth0
  ip -n $1 link set eth0 up
  ip -n $1 link set lo up
}
mk cl 2 && mk d1 11 && mk d2 12 && mk rs 21
ip -n cl route replace 10.50.0.0/24 dev eth0 src 10.50.0.2 rto_min 800ms
ip -n rs addr add 10.50.0.100/32 dev lo
ip netns exec rs sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce'
mkdir -p /run/d1 /run/d2 /run/flows
"#;

/// keepalived.conf of director `n` (priority 150 for d1, 100 for d2).
fn config(n: u32, sync: bool) -> String {
    let priority = if n == 1 { 150 } else { 100 };
    let sync = if sync {
        "    lvs_sync_daemon eth0 VI_1\n"
    } else {
        ""
    };
    format!(
        "global_defs {{
    router_id d{n}
{sync}}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {VIP}/32 dev eth0
    }}
}}
virtual_server {VIP} 80 {{
    delay_loop 2
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.50.0.21 80 {{
        TCP_CHECK {{
            connect_timeout 2
        }}
    }}
}}
"
    )
}

/// Start lvsd, then keepalived -P, on both directors with `sync` or not;
/// wait until d1 holds the VIP and both lvsd have the real server in.
/// lvsd first: an lvsd that started the sync daemon itself would make
/// keepalived's own start of it fail, which the test would see.
fn start_directors(guest: &mut Guest, run: &str, sync: bool) {
    for n in 1..=2 {
        guest
            .write_file(&format!("/run/d{n}/k.conf"), config(n, sync).as_bytes())
            .unwrap();
        guest
            .spawn(
                &format!("lvsd{n}-{run}"),
                &format!(
                    "ip netns exec d{n} env RUNTIME_DIRECTORY=/run/d{n} lvsd -n -l \
                     -f /run/d{n}/k.conf --sync-daemon-grace 15"
                ),
            )
            .unwrap();
    }
    guest
        .wait_for(
            &format!("grep -q 'lvsd started' /run/bg/lvsd1-{run}.log && grep -q 'lvsd started' /run/bg/lvsd2-{run}.log"),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(guest, run)));
    for n in 1..=2 {
        guest
            .spawn(
                &format!("ka{n}-{run}"),
                &format!(
                    "ip netns exec d{n} keepalived -P -n -l -D -f /run/d{n}/k.conf \
                     -p /run/d{n}/ka.pid -r /run/d{n}/vrrp.pid"
                ),
            )
            .unwrap();
    }
    guest
        .wait_for(
            &format!(
                "ip -n d1 -4 addr show dev eth0 | grep -q {VIP} && \
                 ip netns exec d1 ipvsadm -Ln | grep -q 10.50.0.21 && \
                 ip netns exec d2 ipvsadm -Ln | grep -q 10.50.0.21"
            ),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(guest, run)));
}

/// Stop what [`start_directors`] started; no sync daemon is left.
fn stop_directors(guest: &mut Guest, run: &str) {
    for n in 1..=2 {
        guest.stop(&format!("lvsd{n}-{run}")).unwrap();
        guest.stop(&format!("ka{n}-{run}")).unwrap();
        guest.run_ok(&format!(
            "ip netns exec d{n} sh -c 'ipvsadm --stop-daemon master; ipvsadm --stop-daemon backup' 2>/dev/null; true"
        ));
    }
}

/// Every program's log of `run`.
fn logs(guest: &mut Guest, run: &str) -> String {
    guest.run_ok(&format!(
        "for f in /run/bg/*-{run}.log; do echo \"== $f\"; tail -40 $f; done"
    ))
}

/// The client connections each director lists (`ipvsadm -Lnc`, both
/// read at the same moment): client `ADDR:PORT` → real server, the
/// established ones to the VIP.
fn connections(guest: &mut Guest) -> [BTreeSet<(String, String)>; 2] {
    let out = guest.run_ok(
        "ip netns exec d1 ipvsadm -Lnc | sed 's/^/d1 /' > /run/flows/d1.conns &
         ip netns exec d2 ipvsadm -Lnc | sed 's/^/d2 /' > /run/flows/d2.conns
         wait; cat /run/flows/d1.conns /run/flows/d2.conns",
    );
    let mut lists = [BTreeSet::new(), BTreeSet::new()];
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() == 7 && w[3] == "ESTABLISHED" && w[5] == format!("{VIP}:80") {
            let at = usize::from(w[0] == "d2");
            lists[at].insert((w[4].to_string(), w[6].to_string()));
        }
    }
    lists
}

/// Whether both directors list the same `want` connections within 2 s of
/// `since`; what the last read found otherwise.
fn directors_agree(guest: &mut Guest, want: usize, since: Instant) -> Result<(), String> {
    loop {
        let read_at = Instant::now();
        let [one, two] = connections(guest);
        if one == two && one.len() == want {
            return Ok(());
        }
        if read_at > since + Duration::from_secs(2) {
            return Err(format!(
                "d1 lists {}, d2 lists {}, {} in common",
                one.len(),
                two.len(),
                one.intersection(&two).count()
            ));
        }
    }
}

/// Run `move_link` (a shell command), then wait until `now_master` holds
/// the VIP and `other` does not; the takeover time in seconds.
fn takeover(guest: &mut Guest, move_link: &str, now_master: &str, other: &str) -> f64 {
    let out = guest.run_ok(&format!(
        "t0=$EPOCHREALTIME; {move_link}
         for i in $(seq 300); do
           if ip -n {now_master} -4 addr show dev eth0 | grep -q {VIP} && \
              ! ip -n {other} -4 addr show dev eth0 | grep -q {VIP}; then
             echo $t0 $EPOCHREALTIME; exit 0
           fi
           sleep 0.05
         done; echo never"
    ));
    let w: Vec<f64> = out
        .split_whitespace()
        .map(|x| x.parse().unwrap_or_else(|_| panic!("takeover: {out}")))
        .collect();
    w[1] - w[0]
}

/// 100 connections from cl, each a line every 200 ms, until `stop`.
fn hold_connections(guest: &mut Guest, run: &str) {
    let name = format!("flows-{run}");
    guest
        .spawn(
            &name,
            &format!("ip netns exec cl lvsd-flows hold {VIP}:80 100 200 /run/flows/stop-{run}"),
        )
        .unwrap();
    guest
        .wait_for(
            &format!("grep -q opened /run/bg/{name}.log"),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(guest, run)));
}

/// Stop the client; its summary line (`flows conns=...`) parsed.
fn flows_summary(guest: &mut Guest, run: &str) -> (String, std::collections::HashMap<String, u64>) {
    guest.run_ok(&format!("touch /run/flows/stop-{run}"));
    guest
        .wait_for(
            &format!("grep -q '^flows ' /run/bg/flows-{run}.log"),
            Duration::from_secs(30),
        )
        .unwrap();
    let log = guest.log_of(&format!("flows-{run}")).unwrap();
    let line = log
        .lines()
        .find(|l| l.starts_with("flows "))
        .unwrap_or_default()
        .to_string();
    let fields = line
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(u64::MAX)))
        .collect();
    (log, fields)
}

/// The sync daemons lvsd `n` reports in a fresh state dump, and those
/// `ipvsadm -L --daemon` lists, in ipvsadm's words (`master sync daemon
/// (mcast=eth0, syncid=51`), sorted.
fn sync_daemons(guest: &mut Guest, run: &str, n: u32) -> (Vec<String>, Vec<String>) {
    let out = guest.run_ok(&format!(
        "f=/run/d{n}/state.json; rm -f $f; kill -USR1 $(cat /run/bg/lvsd{n}-{run}.pid)
         for i in $(seq 100); do [ -s $f ] && break; sleep 0.1; done
         ip netns exec d{n} ipvsadm -L --daemon; echo @@; cat $f"
    ));
    let (listed, dump) = out.split_once("@@\n").unwrap_or(("", "{}"));
    let dump: serde_json::Value =
        serde_json::from_str(dump).unwrap_or_else(|e| panic!("state dump: {e}\n{out}"));
    let mut said: Vec<String> = dump["sync_daemons"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|d| {
            format!(
                "{} sync daemon (mcast={}, syncid={}",
                d["state"].as_str().unwrap_or("?").to_lowercase(),
                d["mcast_ifn"].as_str().unwrap_or("?"),
                d["syncid"]
            )
        })
        .collect();
    said.sort();
    let mut kernel: Vec<String> = listed
        .lines()
        .filter_map(|l| l.split_once(", maxlen").map(|(head, _)| head.to_string()))
        .collect();
    kernel.sort();
    (said, kernel)
}

#[test]
fn two_directors_keep_established_connections_through_failover_and_failback() {
    let spec = lvsd_vm::with_lvsd!(GuestSpec::new("kernel_directors")
        .net_tools()
        .keepalived()
        .module("bridge"))
    .binary_at(
        env!("CARGO_BIN_EXE_lvsd-flows"),
        "/usr/local/bin/lvsd-flows",
    );
    let mut guest = lvsd_vm::require_guest!(spec);
    let began = Instant::now();
    guest.run_ok(SETUP);
    guest
        .spawn("echo", "ip netns exec rs lvsd-flows echo 0.0.0.0:80")
        .unwrap();
    guest
        .wait_for(
            "grep -q listening /run/bg/echo.log",
            Duration::from_secs(10),
        )
        .unwrap();

    // With the sync daemon: failover, then failback.
    start_directors(&mut guest, "sync", true);
    hold_connections(&mut guest, "sync");
    let opened = directors_agree(&mut guest, 100, Instant::now());
    let failover = takeover(&mut guest, "ip link set v-d1 down", "d2", "d1");
    std::thread::sleep(Duration::from_secs(2));
    guest.run_ok("touch /run/flows/stop-sync.mark");
    let (d2_said, d2_kernel) = sync_daemons(&mut guest, "sync", 2);
    let failback = takeover(&mut guest, "ip link set v-d1 up", "d1", "d2");
    let after = directors_agree(&mut guest, 100, Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (d1_said, d1_kernel) = sync_daemons(&mut guest, "sync", 1);
    let (flows, summary) = flows_summary(&mut guest, "sync");
    let sync_errors = guest.run_ok(
        "cat /run/bg/ka1-sync.log /run/bg/ka2-sync.log /run/bg/lvsd1-sync.log /run/bg/lvsd2-sync.log \
         | grep -iE 'DAEMON.*(error|already)|STARTDAEMON|STOPDAEMON|lvs_sync_daemon:|cannot read the sync daemons' || true",
    );
    let lvsd2_log = guest.log_of("lvsd2-sync").unwrap();
    let sync_logs = match summary.get("alive") == Some(&100) && sync_errors.trim().is_empty() {
        true => String::new(),
        false => logs(&mut guest, "sync"),
    };
    stop_directors(&mut guest, "sync");
    eprintln!(
        "with sync: failover {failover:.2} s, failback {failback:.2} s, {}",
        flows
            .lines()
            .filter(|l| !l.starts_with("opened"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Without it: the failover breaks every connection.
    start_directors(&mut guest, "nosync", false);
    hold_connections(&mut guest, "nosync");
    std::thread::sleep(Duration::from_secs(1));
    // d2's own table may still hold entries synced in the first run (the
    // kernel keeps an ESTABLISHED entry for 15 min): count only this run's
    // connections, as d1 lists them.
    let [d1_now, d2_now] = connections(&mut guest);
    let unsynced = d2_now.intersection(&d1_now).count();
    assert!(
        d1_now.len() >= 100,
        "d1 lists this run's connections: {d1_now:?}"
    );
    let lost_failover = takeover(&mut guest, "ip link set v-d1 down", "d2", "d1");
    std::thread::sleep(Duration::from_secs(2));
    let (lost_flows, lost) = flows_summary(&mut guest, "nosync");
    eprintln!(
        "without sync: failover {lost_failover:.2} s, {}; guest time of the test {:.1} s",
        lost_flows.lines().last().unwrap_or_default(),
        began.elapsed().as_secs_f64()
    );

    // Every connection lived through both moves, none silent longer than
    // that move's takeover plus 1 s; the directors agreed on them.
    assert_eq!(summary.get("alive"), Some(&100), "{flows}\n{sync_logs}");
    let phases: Vec<f64> = flows
        .lines()
        .filter_map(|l| l.strip_prefix("phase max_silence_ms="))
        .map(|ms| ms.parse::<f64>().unwrap_or(f64::MAX) / 1000.0)
        .collect();
    assert_eq!(phases.len(), 2, "{flows}");
    for (silence, takeover, what) in [
        (phases[0], failover, "failover"),
        (phases[1], failback, "failback"),
    ] {
        assert!(
            silence <= takeover + 1.0,
            "{what}: silent {silence:.2} s, takeover {takeover:.2} s\n{flows}"
        );
    }
    opened.unwrap_or_else(|e| panic!("after opening: {e}\n{sync_logs}"));
    after.unwrap_or_else(|e| panic!("after failback: {e}\n{sync_logs}"));
    // No sync daemon error from either program; lvsd shows the daemons
    // as keepalived set them (d2 master after the failover, d1 after the
    // failback), and logged keepalived's change.
    assert_eq!(sync_errors.trim(), "", "{sync_logs}");
    assert!(
        d2_kernel
            .iter()
            .any(|d| d.starts_with("master sync daemon (mcast=eth0")),
        "{d2_kernel:?}"
    );
    assert_eq!(d2_said, d2_kernel);
    assert!(
        d1_kernel
            .iter()
            .any(|d| d.starts_with("master sync daemon (mcast=eth0")),
        "{d1_kernel:?}"
    );
    assert_eq!(d1_said, d1_kernel);
    assert!(
        lvsd2_log.contains("sync daemon running (started by the VRRP side) role=master"),
        "{lvsd2_log}"
    );

    // Without the sync daemon, the standby knew none of them, and none
    // survived.
    assert_eq!(unsynced, 0, "d2 listed connections without a sync daemon");
    assert_eq!(lost.get("alive"), Some(&0), "{lost_flows}");
}
