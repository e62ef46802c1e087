//! From a backend's death to "down", keepalived 2.2.7 and lvsd side by side
//! in a real kernel (one guest, see `tests/vm`): the probes each checker
//! sends in between and the moment each removes the real server must be the
//! same, for the same `delay_loop` / `retry` / `delay_before_retry` /
//! `connect_timeout`.
//!
//! Both checkers run at once, each on its own copy of the setup (pair 1 is
//! keepalived's, pair 2 lvsd's; see `tests/data/timing/lib.sh`): a backend
//! (`lvsd-backend`) in a network namespace behind a veth pair, and
//! `lvsd-synrec` in that namespace writing the kernel's receive time of
//! every SYN to the backend's port, whoever sent it and whatever became of
//! it. The "down" moment is when `ipvsadm -Sn`, polled every 20 ms, no
//! longer lists the real server.
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
                env!("CARGO_BIN_EXE_lvsd-synrec"),
                "/usr/local/bin/lvsd-synrec",
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

/// What one checker did in one case, in ms on the guest's clock.
#[derive(Debug)]
struct Observed {
    /// The first SYN of every probe (retransmitted SYNs dropped).
    probes: Vec<f64>,
    /// When the backend died (for [`Death::AtStart`]: the checker's start).
    death: f64,
    /// When the real server left the table.
    down: f64,
    /// When it was seen in the table first ([`Death::AtStart`] only).
    added: Option<f64>,
    /// Table polls between death and down (for the poll period).
    polls: u32,
}

/// A checker's behaviour around a death, relative to an anchor: the last
/// probe before the death (a success), or the checker's first probe when
/// the backend was dead from the start.
#[derive(Debug, Clone, PartialEq)]
struct Sequence {
    /// Probes after the anchor up to "down", ms from the anchor.
    failed: Vec<f64>,
    /// "down", ms from the anchor.
    down: f64,
    /// The first probe after "down", ms from the anchor.
    next: Option<f64>,
}

impl Observed {
    fn sequence(&self) -> Sequence {
        let anchor = self
            .probes
            .iter()
            .copied()
            .filter(|&t| t < self.death)
            .last()
            .or_else(|| self.probes.first().copied())
            .expect("at least one probe");
        let after = |t: f64| t - anchor;
        Sequence {
            failed: self
                .probes
                .iter()
                .copied()
                .filter(|&t| t > anchor && t <= self.down)
                .map(after)
                .collect(),
            down: after(self.down),
            next: self
                .probes
                .iter()
                .copied()
                .find(|&t| t > self.down)
                .map(after),
        }
    }
}

/// Seconds.micros (`$EPOCHREALTIME`, lvsd-synrec) to ms.
fn ms(text: &str) -> f64 {
    text.parse::<f64>()
        .unwrap_or_else(|e| panic!("bad time {text:?}: {e}"))
        * 1000.0
}

/// The first SYN time of each source port in recorder N's log.
fn probes(log: &str) -> Vec<f64> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<f64> = log
        .lines()
        .filter_map(|l| l.strip_prefix("syn "))
        .filter_map(|l| {
            let (time, from) = l.split_once(' ')?;
            seen.insert(from.to_string()).then(|| ms(time))
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// `key value` pairs of a watch line after its pair number.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == key)
        .unwrap_or_else(|| panic!("no {key} in {line:?}"));
    words[at + 1]
}

/// Runs keepalived (pair 1) and lvsd (pair 2) through `death` at once.
fn run_case(guest: &mut Guest, death: Death) -> (Observed, Observed) {
    guest.run_ok(
        "ipvsadm -C
        for n in 1 2; do ip netns exec t$n ip route del blackhole 10.201.$n.1/32 2>/dev/null; done
        true",
    );
    guest
        .write_file("/etc/lvsd-timing/ka.conf", config(1).as_bytes())
        .unwrap();
    guest
        .write_file("/etc/lvsd-timing/lv.conf", config(2).as_bytes())
        .unwrap();
    for n in 1..=2 {
        guest
            .spawn(
                &format!("rec{n}"),
                &format!("ip netns exec t{n} lvsd-synrec veth-t{n}r 8090"),
            )
            .unwrap();
        if death != Death::AtStart {
            guest
                .spawn(
                    &format!("be{n}"),
                    &format!("ip netns exec t{n} lvsd-backend 10.201.{n}.2:8090"),
                )
                .unwrap();
        }
    }
    let ready = if death == Death::AtStart {
        "grep -q recording /run/bg/rec1.log && grep -q recording /run/bg/rec2.log"
    } else {
        "grep -q recording /run/bg/rec1.log && grep -q recording /run/bg/rec2.log \
         && grep -q listening /run/bg/be1.log && grep -q listening /run/bg/be2.log"
    };
    guest.wait_for(ready, Duration::from_secs(10)).unwrap();
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
    let ka_log = guest.stop("keepalived").unwrap();
    let lv_log = guest.stop("lvsd").unwrap();
    let mut observed = Vec::new();
    for n in 1..=2 {
        let rec = guest.stop(&format!("rec{n}")).unwrap();
        if death != Death::AtStart {
            let _ = guest.run(&format!(
                "kill $(cat /run/bg/be{n}.pid) 2>/dev/null; true"
            ));
        }
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("no watch line for pair {n}: {out}"));
        let down = field(line, "down");
        assert_ne!(
            down, "none",
            "pair {n} never went down: {line}\nkeepalived:\n{ka_log}\nlvsd:\n{lv_log}\nsyns:\n{rec}"
        );
        let start = if death == Death::AtStart {
            "start"
        } else {
            "death"
        };
        observed.push(Observed {
            probes: probes(&rec),
            death: ms(field(line, start)),
            down: ms(down),
            added: match death {
                Death::AtStart => Some(field(line, "added"))
                    .filter(|a| *a != "none")
                    .map(ms),
                _ => None,
            },
            polls: field(line, "polls").parse().unwrap(),
        });
    }
    guest.run_ok(
        "ipvsadm -C
        for n in 1 2; do ip netns exec t$n ip route del blackhole 10.201.$n.1/32 2>/dev/null; done
        true",
    );
    let lv = observed.pop().unwrap();
    let ka = observed.pop().unwrap();
    eprintln!("{death:?}: keepalived {ka:?}\n{death:?}: lvsd {lv:?}");
    (ka, lv)
}

fn show(s: &Sequence) -> String {
    let failed: Vec<String> = s.failed.iter().map(|t| format!("{t:.0}")).collect();
    format!(
        "probes [{}] down {:.0} next {}",
        failed.join(", "),
        s.down,
        s.next.map_or("-".into(), |t| format!("{t:.0}"))
    )
}

fn compare(death: Death) {
    let Some(mut guest) = guest() else { return };
    let (ka, lv) = run_case(&mut guest, death);
    let (ka_seq, lv_seq) = (ka.sequence(), lv.sequence());
    eprintln!("{death:?}: keepalived {}", show(&ka_seq));
    eprintln!("{death:?}: lvsd       {}", show(&lv_seq));
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
