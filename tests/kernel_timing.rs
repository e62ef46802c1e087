//! From a backend's death to "down", keepalived 2.2.7 and lvsd side by side
//! in a real kernel (one guest, see `tests/vm`): the probes each checker
//! sends in between and the moment each removes the real server must be the
//! same, for the same `delay_loop` / `retry` / `delay_before_retry` /
//! `connect_timeout`.
//!
//! Both checkers run at once, each on its own copy of the setup (pair 1 is
//! keepalived's, pair 2 lvsd's; see `tests/data/timing/lib.sh`): a backend
//! (`lvsd-backend`) in a network namespace behind a veth pair, and
//! `lvsd-witness syns` in that namespace writing the kernel's receive time
//! of every SYN to the backend's port, whoever sent it and whatever became
//! of it; `lvsd-witness ipvs` writes when the real server enters and leaves
//! the table (`/proc/net/ip_vs` read every 5 ms).
//!
//! Cases: the backend dies while up by closing its port (probes refused at
//! once) or by vanishing (answers blackholed, probes time out); and the
//! backend is dead when the checker starts.
//!
//! Needs qemu and the cached kernel (`bash .ci/setup`); skips without them
//! unless `CI=true`.

use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec, SharedGuest};

static GUEST: SharedGuest = SharedGuest::new();

fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    let mut guest = GUEST.get(|| {
        lvsd_vm::with_lvsd!(GuestSpec::new("kernel_timing").net_tools().keepalived())
            .binary_at(
                env!("CARGO_BIN_EXE_lvsd-witness"),
                "/usr/local/bin/lvsd-witness",
            )
            .bytes(
                "/etc/lvsd-timing/lib.sh",
                include_str!("data/timing/lib.sh"),
                0o644,
            )
    })?;
    guest.run_ok(". /etc/lvsd-timing/lib.sh; make_pair 1; make_pair 2");
    Some(guest)
}

/// The schedule under test: `delay_loop`, `delay_before_retry` and
/// `connect_timeout` in ms, and `retry`.
const DELAY_LOOP: f64 = 2000.0;
const DELAY_BEFORE_RETRY: f64 = 1000.0;
const CONNECT_TIMEOUT: f64 = 1000.0;
const RETRY: usize = 2;

/// One virtual server (10.11.0.N:80) with the real server of pair N.
fn config(n: u32) -> String {
    format!(
        "virtual_server 10.11.0.{n} 80 {{
    delay_loop {dl}
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.201.{n}.2 8090 {{
        weight 1
        TCP_CHECK {{
            connect_timeout {ct}
            retry {RETRY}
            delay_before_retry {dbr}
        }}
    }}
}}
",
        dl = DELAY_LOOP / 1000.0,
        ct = CONNECT_TIMEOUT / 1000.0,
        dbr = DELAY_BEFORE_RETRY / 1000.0,
    )
}

/// How the backend is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Death {
    /// Killed while up: its port is closed, probes are refused at once.
    Refused,
    /// Vanished while up: its answers are blackholed, probes time out.
    Timeout,
    /// Port closed before the checker starts.
    AtStart,
}

/// What one checker did in one case, in ms on the guest's realtime clock.
#[derive(Debug)]
struct Observed {
    /// The first SYN of every probe (retransmitted SYNs dropped).
    probes: Vec<f64>,
    /// When the backend died; for [`Death::AtStart`], before the checker started.
    death: f64,
    /// When the real server left the table after its first probe past `death`.
    down: f64,
    /// When the real server was first seen in the table.
    added: Option<f64>,
}

/// A checker's behaviour around a death, in ms from an anchor: the last
/// probe before the death (a success), or the checker's first probe when
/// the backend was dead from the start.
#[derive(Debug, Clone, PartialEq)]
struct Sequence {
    /// The probes after the anchor up to "down" (for [`Death::AtStart`]
    /// the anchor itself, at 0, is the first of them).
    failed: Vec<f64>,
    /// "down": the real server left the table.
    down: f64,
    /// The first probe after "down".
    next: Option<f64>,
}

impl Sequence {
    /// The events one after the other: failed probes, down, next probe.
    fn points(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = (self.failed.iter().enumerate())
            .map(|(i, t)| (format!("failed probe {}", i + 1), *t))
            .collect();
        out.push(("down".into(), self.down));
        out.extend(self.next.map(|t| ("next probe".into(), t)));
        out
    }

    /// Each event's time from the one before it (the first: from the anchor).
    fn gaps(&self) -> Vec<(String, f64)> {
        let mut before = 0.0;
        self.points()
            .into_iter()
            .map(|(what, t)| {
                let gap = t - before;
                before = t;
                (what, gap)
            })
            .collect()
    }
}

impl Observed {
    fn sequence(&self, death: Death) -> Sequence {
        let anchor = match death {
            Death::AtStart => self.probes.first(),
            _ => self.probes.iter().filter(|&&t| t < self.death).last(),
        }
        .copied()
        .expect("a probe before the death");
        let after = |t: f64| t - anchor;
        let from = if death == Death::AtStart {
            anchor
        } else {
            anchor + 0.001
        };
        Sequence {
            failed: (self.probes.iter().copied())
                .filter(|&t| t >= from && t <= self.down)
                .map(after)
                .collect(),
            down: after(self.down),
            next: self.probes.iter().copied().find(|&t| t > self.down).map(after),
        }
    }

    /// Intervals between two probes that both succeeded (before the death):
    /// `delay_loop` plus a probe's duration plus timer lateness.
    fn success_intervals(&self, death: Death) -> Vec<f64> {
        if death == Death::AtStart {
            return Vec::new();
        }
        let ok: Vec<f64> = (self.probes.iter().copied())
            .filter(|&t| t < self.death)
            .collect();
        ok.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// Seconds.micros (`$EPOCHREALTIME`, lvsd-witness) to ms.
fn ms(text: &str) -> f64 {
    text.parse::<f64>()
        .unwrap_or_else(|e| panic!("bad time {text:?}: {e}"))
        * 1000.0
}

/// The first SYN time of each source port in a `lvsd-witness syns` log.
fn probes(log: &str) -> Vec<f64> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<f64> = (log.lines())
        .filter_map(|l| l.strip_prefix("syn "))
        .filter_map(|l| {
            let (time, from) = l.split_once(' ')?;
            seen.insert(from.to_string()).then(|| ms(time))
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// The (present, time) changes of a `lvsd-witness ipvs` log.
fn table_changes(log: &str) -> Vec<(bool, f64)> {
    (log.lines())
        .filter_map(|l| {
            let (word, time) = l.split_once(' ')?;
            match word {
                "present" => Some((true, ms(time))),
                "absent" => Some((false, ms(time))),
                _ => None,
            }
        })
        .collect()
}

/// Clears the table and the blackhole routes a case may leave.
const CLEAN: &str = "ipvsadm -C
for n in 1 2; do ip netns exec t$n ip route del blackhole 10.201.$n.1/32 2>/dev/null; done
true";

/// Runs keepalived (pair 1) and lvsd (pair 2) through `death` at once.
fn run_case(guest: &mut Guest, death: Death) -> (Observed, Observed) {
    guest.run_ok(CLEAN);
    guest
        .write_file("/etc/lvsd-timing/ka.conf", config(1).as_bytes())
        .unwrap();
    guest
        .write_file("/etc/lvsd-timing/lv.conf", config(2).as_bytes())
        .unwrap();
    let mut ready = Vec::new();
    for n in 1..=2 {
        guest
            .spawn(
                &format!("syn{n}"),
                &format!("ip netns exec t{n} lvsd-witness syns veth-t{n}r 8090"),
            )
            .unwrap();
        guest
            .spawn(
                &format!("ipvs{n}"),
                &format!("lvsd-witness ipvs 10.201.{n}.2:8090"),
            )
            .unwrap();
        ready.push(format!("grep -q watching /run/bg/syn{n}.log"));
        ready.push(format!("grep -q watching /run/bg/ipvs{n}.log"));
        if death != Death::AtStart {
            guest
                .spawn(
                    &format!("be{n}"),
                    &format!("ip netns exec t{n} lvsd-backend 10.201.{n}.2:8090"),
                )
                .unwrap();
            ready.push(format!("grep -q listening /run/bg/be{n}.log"));
        }
    }
    guest
        .wait_for(&ready.join(" && "), Duration::from_secs(10))
        .unwrap();
    let started = guest.run_ok("echo $EPOCHREALTIME");
    guest
        .spawn(
            "keepalived",
            "keepalived -C -n -l -D -f /etc/lvsd-timing/ka.conf",
        )
        .unwrap();
    guest
        .spawn(
            "lvsd",
            "lvsd -n -l -f /etc/lvsd-timing/lv.conf --state-file /tmp/lvsd-timing.json",
        )
        .unwrap();
    let watch = match death {
        Death::Refused => "kill_and_watch 1 refused & kill_and_watch 2 refused & wait",
        Death::Timeout => "kill_and_watch 1 timeout & kill_and_watch 2 timeout & wait",
        Death::AtStart => "watch_from_start 1 & watch_from_start 2 & wait",
    };
    let out = guest
        .run_timeout(
            &format!(". /etc/lvsd-timing/lib.sh; {watch}"),
            Duration::from_secs(40),
        )
        .unwrap();
    let logs = [
        guest.stop("keepalived").unwrap(),
        guest.stop("lvsd").unwrap(),
    ];
    let mut observed = Vec::new();
    for n in 1..=2 {
        let syns = guest.stop(&format!("syn{n}")).unwrap();
        let table = guest.stop(&format!("ipvs{n}")).unwrap();
        // A backend killed by the case is gone already.
        guest.run_ok(&format!("kill $(cat /run/bg/be{n}.pid) 2>/dev/null; true"));
        let context = || {
            format!(
                "pair {n}\nwatch: {out}\nchecker log:\n{}\nsyns:\n{syns}\ntable:\n{table}",
                logs[n - 1]
            )
        };
        let death_at = match death {
            Death::AtStart => ms(started.trim()),
            _ => {
                let line = (out.stdout.lines())
                    .find(|l| l.starts_with(&format!("{n} death ")))
                    .unwrap_or_else(|| panic!("no death\n{}", context()));
                ms(line.split_whitespace().nth(2).unwrap())
            }
        };
        let probes = probes(&syns);
        let changes = table_changes(&table);
        let after = match death {
            Death::AtStart => *probes
                .first()
                .unwrap_or_else(|| panic!("no probe\n{}", context())),
            _ => death_at,
        };
        let down = (changes.iter())
            .find(|(present, t)| !present && *t > after)
            .map(|c| c.1)
            .unwrap_or_else(|| panic!("never down\n{}", context()));
        let added = changes.iter().find(|c| c.0).map(|c| c.1);
        observed.push(Observed {
            probes,
            death: death_at,
            down,
            added,
        });
    }
    guest.run_ok(CLEAN);
    let lv = observed.pop().unwrap();
    let ka = observed.pop().unwrap();
    (ka, lv)
}

fn show(s: &Sequence) -> String {
    let gaps: Vec<String> = (s.gaps().iter())
        .map(|(what, gap)| format!("{what} +{gap:.0}"))
        .collect();
    gaps.join(", ")
}

fn compare(death: Death) {
    let Some(mut guest) = guest() else { return };
    let (ka, lv) = run_case(&mut guest, death);
    let (ka_seq, lv_seq) = (ka.sequence(death), lv.sequence(death));
    eprintln!("{death:?}: keepalived {ka:?}\n{death:?}: lvsd {lv:?}");
    eprintln!("{death:?}: keepalived {}", show(&ka_seq));
    eprintln!("{death:?}: lvsd       {}", show(&lv_seq));
    eprintln!(
        "{death:?}: success intervals keepalived {:?} lvsd {:?}",
        ka.success_intervals(death),
        lv.success_intervals(death)
    );
    if let (Some(k), Some(l)) = (ka.added, lv.added) {
        eprintln!(
            "{death:?}: added to the table before the first probe: keepalived {:.0} lvsd {:.0}",
            ka.probes[0] - k,
            lv.probes[0] - l
        );
    }
    assert_eq!(
        ka_seq.failed.len(),
        lv_seq.failed.len(),
        "probes between death and down\nkeepalived {ka_seq:?}\nlvsd {lv_seq:?}"
    );
}

#[test]
fn refused_death() {
    compare(Death::Refused);
}

#[test]
fn timed_out_death() {
    compare(Death::Timeout);
}

#[test]
fn dead_at_start() {
    compare(Death::AtStart);
}
