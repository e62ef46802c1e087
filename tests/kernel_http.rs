//! HTTP_GET, keepalived 2.2.7 and lvsd side by side in a real kernel (one
//! guest): a behaviour table, one row a backend case, each row a virtual
//! server whose real server is a busybox httpd (a server nobody here wrote)
//! in a network namespace.
//!
//! For each program in turn, from an empty table: start it on the same
//! config, let every check give its verdicts (one url a `delay_loop`: the
//! slowest row needs two), then compare per row whether the real server is
//! still in `ipvsadm -Sn`, and for the rows taken out, how many requests its
//! backend had received when it left the table (`tests/data/http/watch.sh`).
//! Every row must be the same under both, except the one that names a
//! documented difference (docs/differences.md): a body slower than
//! `connect_timeout` in all passes keepalived (it re-arms its timer every
//! read) and fails lvsd (one deadline for the whole exchange).
//!
//! Needs qemu, the cached kernel and the keepalived package (`bash
//! .ci/setup`); skips without them unless `CI=true`.

use std::collections::BTreeMap;
use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec};

mod bench_rounds;

/// One row: what it shows, its checker block's body, and whether its real
/// server stays in the table under keepalived and under lvsd.
struct Row {
    name: &'static str,
    check: &'static str,
    keepalived_up: bool,
    lvsd_up: bool,
}

const fn row(name: &'static str, check: &'static str, up: bool) -> Row {
    Row {
        name,
        check,
        keepalived_up: up,
        lvsd_up: up,
    }
}

/// md5("hello\n"), index.html's body.
const HELLO: &str = "b1946ac92492d2347c6235b4d2611184";

fn rows() -> Vec<Row> {
    vec![
        row("200", "url {\n path /index.html\n}", true),
        row(
            "404 against the default 200-299",
            "url {\n path /missing\n}",
            false,
        ),
        row(
            "404 listed",
            "url {\n path /missing\n status_code 404\n}",
            true,
        ),
        row("302 against the default", "url {\n path /dir\n}", false),
        row(
            "302 listed as a range",
            "url {\n path /dir\n status_code 300-399\n}",
            true,
        ),
        row(
            "503 against the default",
            "url {\n path /cgi-bin/busy\n}",
            false,
        ),
        row(
            "503 listed",
            "url {\n path /cgi-bin/busy\n status_code 200 500-599\n}",
            true,
        ),
        row(
            "digest matches",
            "url {\n path /index.html\n digest b1946ac92492d2347c6235b4d2611184\n}",
            true,
        ),
        row(
            "digest differs",
            "url {\n path /index.html\n digest 00000000000000000000000000000000\n}",
            false,
        ),
        row(
            "regex matches (\\\\d as keepalived unescapes it)",
            "url {\n path /status.txt\n regex \"ready \\\\d+\"\n}",
            true,
        ),
        row(
            "regex does not match",
            "url {\n path /status.txt\n regex broken\n}",
            false,
        ),
        row(
            "regex_no_match",
            "url {\n path /status.txt\n regex broken\n regex_no_match\n}",
            true,
        ),
        row(
            "regex_max_offset before the match",
            "url {\n path /status.txt\n regex OK\n regex_max_offset 5\n}",
            false,
        ),
        row(
            "regex_min_offset past the match",
            "url {\n path /status.txt\n regex HTTP\n regex_min_offset 1\n}",
            false,
        ),
        row(
            "http_protocol 1.1",
            "http_protocol 1.1\nurl {\n path /index.html\n}",
            true,
        ),
        row(
            "virtualhost",
            "virtualhost www.example.test\nurl {\n path /index.html\n}",
            true,
        ),
        row(
            "keeps the connection open",
            "url {\n path /cgi-bin/open\n}",
            false,
        ),
        Row {
            name: "body slower than connect_timeout (documented difference)",
            check: "url {\n path /cgi-bin/slow\n}",
            keepalived_up: true,
            lvsd_up: false,
        },
        row(
            "two urls, the second fails",
            "url {\n path /index.html\n}\nurl {\n path /missing\n}",
            false,
        ),
    ]
}

/// One virtual server a row (10.203.0.N:80 → 10.202.0.2:800N).
fn config(rows: &[Row]) -> String {
    let mut c = String::new();
    for (i, r) in rows.iter().enumerate() {
        let n = i + 1;
        c.push_str(&format!(
            "virtual_server 10.203.0.{n} 80 {{\n delay_loop 2\n lb_algo rr\n lb_kind NAT\n protocol TCP\n \
             real_server 10.202.0.2 {port} {{\n  weight 1\n  HTTP_GET {{\n   connect_timeout 5\n{check}\n  }}\n }}\n}}\n",
            port = 8000 + n,
            check = r.check
        ));
    }
    c
}

/// The settled state of one program: per port, in the table or not, and
/// for those taken out, the requests their backend had by then.
#[derive(Debug, Default)]
struct Settled {
    present: BTreeMap<u16, bool>,
    removed_after: BTreeMap<u16, u64>,
    table: String,
    log: String,
}

fn run(guest: &mut Guest, who: &str, command: &str, started: &str, n: usize) -> Settled {
    guest.run_ok("ipvsadm -C");
    guest.run_ok(&format!(
        "for i in $(seq 1 {n}); do : > /run/bg/bb$((8000 + i)).log; done"
    ));
    guest.spawn(who, command).unwrap();
    guest
        .wait_for(
            &format!("grep -q '{started}' /run/bg/{who}.log"),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|e| panic!("{who} did not start: {e}"));
    // The slowest rows: a warmup of up to delay_loop, then the slow body
    // (8 s), or url 1, delay_loop, url 2.
    let watched = guest
        .run_timeout(
            &format!("bash /etc/lvsd-http/watch.sh {n} 16"),
            Duration::from_secs(40),
        )
        .unwrap();
    let table = guest.run_ok("ipvsadm -Sn");
    let log = guest.stop(who).unwrap();
    guest.run_ok("ipvsadm -C");
    let mut s = Settled {
        table: table.clone(),
        log,
        ..Settled::default()
    };
    for i in 1..=n {
        let port = 8000 + i as u16;
        let present = table.contains(&format!("-r 10.202.0.2:{port} "));
        s.present.insert(port, present);
    }
    for line in watched.stdout.lines() {
        if let Some((port, count)) = line.split_once(' ') {
            if let (Ok(port), Ok(count)) = (port.parse(), count.parse()) {
                s.removed_after.insert(port, count);
            }
        }
    }
    s
}

#[test]
fn http_get_behaviour_table_against_keepalived() {
    let rows = rows();
    let n = rows.len();
    let conf = config(&rows);
    let spec = lvsd_vm::with_lvsd!(GuestSpec::new("kernel_http").net_tools().keepalived())
        .bytes(
            "/etc/lvsd-http/setup.sh",
            include_str!("data/http/setup.sh"),
            0o644,
        )
        .bytes(
            "/etc/lvsd-http/watch.sh",
            include_str!("data/http/watch.sh"),
            0o644,
        )
        .bytes("/etc/lvsd-http/keepalived.conf", conf.clone(), 0o644);
    let mut guest = lvsd_vm::require_guest!(spec);
    let started = std::time::Instant::now();
    guest.run_ok(&format!("bash /etc/lvsd-http/setup.sh {n}"));
    let test = guest
        .run("lvsd -t -f /etc/lvsd-http/keepalived.conf")
        .unwrap();
    assert_eq!(test.status, 0, "lvsd -t\n{test}\n{conf}");
    let keepalived = run(
        &mut guest,
        "keepalived",
        "keepalived -C -n -l -f /etc/lvsd-http/keepalived.conf",
        "Activating healthchecker",
        n,
    );
    let lvsd = run(
        &mut guest,
        "lvsd",
        "lvsd -n -l -f /etc/lvsd-http/keepalived.conf --state-file /tmp/lvsd-http.json",
        "lvsd started",
        n,
    );
    let mut report = String::new();
    let mut wrong = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let port = 8000 + 1 + i as u16;
        let (k, l) = (keepalived.present[&port], lvsd.present[&port]);
        let (kc, lc) = (
            keepalived.removed_after.get(&port),
            lvsd.removed_after.get(&port),
        );
        report.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.name,
            if k { "up" } else { "down" },
            if l { "up" } else { "down" },
            kc.map_or("-".into(), u64::to_string),
            lc.map_or("-".into(), u64::to_string),
        ));
        if (k, l) != (r.keepalived_up, r.lvsd_up) {
            wrong.push(format!("{}: keepalived {k}, lvsd {l}", r.name));
        }
        // Removed under both: after the same number of probes.
        if !k && !l && kc != lc {
            wrong.push(format!(
                "{}: removed after {kc:?} / {lc:?} requests",
                r.name
            ));
        }
    }
    eprintln!(
        "| row | keepalived | lvsd | requests before removal (keepalived) | (lvsd) |\n|---|---|---|---|---|\n{report}\
         guest time {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        wrong.is_empty(),
        "{wrong:#?}\nkeepalived table:\n{}\nlvsd table:\n{}\nkeepalived log:\n{}\nlvsd log:\n{}",
        keepalived.table,
        lvsd.table,
        keepalived.log,
        lvsd.log
    );
}

/// The bench (`bench/http.sh`; ignored in the suite): CPU per 1,000
/// HTTP_GET probes, keepalived 2.2.7's checker vs lvsd, in one guest: 200
/// real servers (addresses of one busybox httpd in a namespace), delay_loop
/// 1, each program alone for `LVSD_BENCH_SECONDS` (default 20) after a 5 s
/// settling. Probes are counted by the backend namespace's TCP
/// `PassiveOpens`; CPU is every process of the program (keepalived's
/// parent and checker child), user + system. `LVSD_BENCH_ROUNDS` rounds
/// (default 3), the programs in reverse order every other round; each
/// figure is the median of the rounds' ratios (the guest shares the host's
/// cores: one run's figure moves by a third with the host's load).
/// `LVSD_BENCH_BASE=PATH` measures another lvsd binary (a baseline build)
/// in the same rounds, as `lvsd (base)`.
#[test]
#[ignore]
fn bench_http_get_cpu_against_keepalived() {
    let servers = 200;
    let seconds = bench_rounds::env("LVSD_BENCH_SECONDS", 20);
    let mut conf = String::from(
        "virtual_server 10.203.0.1 80 {\n delay_loop 1\n lb_algo rr\n lb_kind NAT\n protocol TCP\n",
    );
    for i in 1..=servers {
        conf.push_str(&format!(
            " real_server 10.202.1.{i} 80 {{\n  weight 1\n  HTTP_GET {{\n   connect_timeout 3\n   url {{\n    path /index.html\n    digest {HELLO}\n   }}\n  }}\n }}\n"
        ));
    }
    conf.push_str("}\n");
    let mut spec =
        lvsd_vm::with_lvsd!(GuestSpec::new("kernel_http_bench").net_tools().keepalived())
            .bytes(
                "/etc/lvsd-http/setup.sh",
                include_str!("data/http/setup.sh"),
                0o644,
            )
            .bytes("/etc/lvsd-http/bench.conf", conf, 0o644);
    // (what, command, line that says it started)
    let mut programs = vec![
        (
            "keepalived",
            "keepalived -C -n -l -f /etc/lvsd-http/bench.conf",
            "Activating healthchecker",
        ),
        (
            "lvsd",
            "lvsd -n -l -f /etc/lvsd-http/bench.conf --state-file /dev/null",
            "lvsd started",
        ),
    ];
    if let Some(base) = bench_rounds::base() {
        spec = spec.binary_at(&base, "/usr/local/bin/lvsd-base");
        programs.push((
            "lvsd (base)",
            "lvsd-base -n -l -f /etc/lvsd-http/bench.conf --state-file /dev/null",
            "lvsd started",
        ));
    }
    // The floor: a C program that makes the same requests and does nothing
    // else (bench/floor/http_prober.c), 200 a second: delay_loop 1 over 200
    // real servers, the rate the checkers aim at.
    let floor_dir = tempfile::tempdir().unwrap();
    spec = spec.binary_at(
        build_http_floor(floor_dir.path()),
        "/usr/local/bin/http_prober",
    );
    let floor = programs.len();
    programs.push(("floor (C)", "http_prober 200 200", "http_prober started"));
    let mut guest = lvsd_vm::require_guest!(spec);
    // The row servers are not needed: one busybox on every address.
    guest.run_ok("bash /etc/lvsd-http/setup.sh 0");
    let setup = guest
        .run_timeout(
            &format!(
                "ip route add 10.202.1.0/24 dev veth-web
                for i in $(seq 1 {servers}); do echo addr add 10.202.1.$i/32 dev veth-webr; done > /tmp/addrs
                ip -n web -batch /tmp/addrs
                ip netns exec web busybox httpd -f -p 80 -h /srv/www > /dev/null 2>&1 < /dev/null &
                sleep 1"
            ),
            Duration::from_secs(120),
        )
        .unwrap();
    assert!(setup.success(), "{setup}");
    let table = bench_rounds::measure_rounds(programs.len(), bench_rounds::rounds(), |i| {
        let (what, command, started) = programs[i];
        http_bench_run(&mut guest, what, command, started, seconds)
    });
    let setting = format!("{servers} real servers, delay_loop 1, guest (goal 0.8)");
    for (i, (what, _, _)) in programs.iter().enumerate().take(floor).skip(1) {
        let figure = bench_rounds::figure(&table, i, 0);
        bench_rounds::print(&format!("HTTP_GET ({what})"), &setting, "s", &figure);
    }
    bench_rounds::print_named(
        "HTTP_GET",
        &format!("{setting}, the floor against keepalived"),
        "s",
        &bench_rounds::figure(&table, floor, 0),
        ["floor", "keepalived"],
    );
    bench_rounds::print_named(
        "HTTP_GET",
        &format!(
            "{servers} real servers, guest, lvsd against the floor (a C program making the \
             same requests and nothing else, bench/floor/http_prober.c)"
        ),
        "s",
        &bench_rounds::figure(&table, 1, floor),
        ["lvsd", "floor"],
    );
}

/// Builds `bench/floor/http_prober.c` into `dir`, linked statically (it
/// runs in the guest).
fn build_http_floor(dir: &std::path::Path) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/floor/http_prober.c");
    let bin = dir.join("http_prober");
    let status = std::process::Command::new("cc")
        .args(["-O2", "-Wall", "-static", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("cc");
    assert!(status.success(), "cc {}", src.display());
    bin
}

/// Shell, after `bench_rounds::GUEST_RUN_NS` (the CPU time of every thread
/// of program `$WHO`): prints the backend's accepted
/// connections (`PassiveOpens` of the namespace `web`), then one line per
/// thread, `PID/NAME USER SYSTEM RUN`: the `stat` file's user and system
/// ticks (1/100 s; samples, see `GUEST_RUN_NS`) and the scheduler's run time
/// in nanoseconds (commentary: where each program's CPU goes; keepalived's
/// parent and checker child are two processes).
const HTTP_SAMPLE: &str = r#"pids=$(pidof $WHO)
ip netns exec web awk '/^Tcp:/ { n++ } n == 2 && /^Tcp:/ { print $7; exit }' /proc/net/snmp
for p in $pids; do for t in /proc/$p/task/*; do echo "$p/$(tr -c 'a-zA-Z0-9\n-' _ < $t/comm) $(cut -d' ' -f14,15 $t/stat) $(cut -d' ' -f1 $t/schedstat)"; done; done
"#;

/// One program's run of the bench: its CPU seconds per 1,000 probes over
/// `seconds`, from an empty table.
fn http_bench_run(
    guest: &mut Guest,
    what: &str,
    command: &str,
    started: &str,
    seconds: u64,
) -> f64 {
    let who = command.split(' ').next().unwrap_or(what);
    guest.run_ok("ipvsadm -C");
    guest.spawn(who, command).unwrap();
    guest
        .wait_for(
            &format!("grep -q '{started}' /run/bg/{who}.log"),
            Duration::from_secs(30),
        )
        .unwrap();
    // Per thread: (user, system, run) seconds.
    let sample = |guest: &mut Guest| -> (f64, f64, BTreeMap<String, [f64; 3]>) {
        let out = guest.run_ok(&format!(
            "WHO={who}\nPIDS=$(pidof $WHO)\n{}\n{HTTP_SAMPLE}",
            bench_rounds::GUEST_RUN_NS
        ));
        let mut lines = out.lines();
        let mut number = || -> f64 {
            lines
                .next()
                .unwrap_or("")
                .trim()
                .parse()
                .unwrap_or(f64::NAN)
        };
        let (run_ns, probes) = (number(), number());
        let mut threads = BTreeMap::new();
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, user, system, run] = words[..] {
                let number = |w: &str| w.parse::<f64>().unwrap_or(0.0);
                threads.insert(
                    name.to_string(),
                    [
                        number(user) / 100.0,
                        number(system) / 100.0,
                        number(run) / 1e9,
                    ],
                );
            }
        }
        (run_ns / 1e9, probes, threads)
    };
    guest.run_ok("sleep 5");
    let (cpu0, probes0, threads0) = sample(guest);
    guest.run_ok(&format!("sleep {seconds}"));
    let (cpu1, probes1, threads1) = sample(guest);
    guest.stop(who).unwrap();
    let (cpu, probes) = (cpu1 - cpu0, probes1 - probes0);
    assert!(
        cpu.is_finite() && probes > 0.0,
        "{what}: CPU {cpu}, probes {probes}"
    );
    let per_thread: Vec<String> = threads1
        .iter()
        .map(|(name, [user, system, run])| {
            let [user0, system0, run0] = threads0.get(name).copied().unwrap_or_default();
            format!(
                "{name} {:.2} s (ticks: user {:.2}, sys {:.2})",
                run - run0,
                user - user0,
                system - system0
            )
        })
        .collect();
    println!(
        "{what}: {probes} probes in {seconds} s ({:.0}/s), CPU {cpu:.2} s; threads: {}",
        probes / seconds as f64,
        per_thread.join(", ")
    );
    cpu / (probes / 1000.0)
}
