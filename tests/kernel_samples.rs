//! keepalived's own samples (`/usr/share/doc/keepalived/samples`) in a real
//! kernel: for every sample with virtual servers, the IPVS table lvsd builds
//! equals the one keepalived 2.2.7 (`keepalived -C`) builds, read back by
//! `ipvsadm -Sn` in the same guest (one boot for the whole file, see
//! `tests/vm`), and the counts of `lvsd --dump-config` equal the services
//! and real servers keepalived created. The same holds for the configs of
//! `tests/host/parity.rs` whose class changes what runs ([`PARITY`]).
//!
//! ## The moment compared: the start table
//!
//! Both programs put every real server without `alpha` in the table at
//! start, then remove each one whose first check fails; the first check
//! runs after a random warmup of up to `delay_loop` seconds (60 s in the
//! SMTP sample). The start table is the one moment both reach
//! deterministically, and it is the config's meaning (which services,
//! which real servers, weights, scheduler, persistence, forwarding) —
//! what this file is about; it is compared for every sample, and must be
//! equal line for line (no difference is expected there).
//!
//! The settled table, after every check's first verdict, also compares the
//! checkers. It is compared for three samples that show the verdicts'
//! effects (sorry server, `inhibit_on_failure`, and SSL_GET), at up to
//! `delay_loop` + `connect_timeout` (9 s) per run; waiting for the SMTP
//! sample's (`delay_loop 60`) would cost minutes.
//!
//! lvsd never reports a real server healthy for a check it does not
//! perform: a sample holding a kind it does not probe yet (none of
//! Debian's today) is refused, and its test
//! asserts the refusal (`lvsd -t` names the kind, the start fails, the
//! table stays empty) instead of comparing tables.
//!
//! To keep "before the first verdict" a fact, not a race, no check may
//! fail fast: the guest routes everything into a `dummy` interface (it
//! drops every packet, and nothing leaves the guest), so a probe can only
//! time out (`connect_timeout` ≥ 3 s in every sample); the `bindto`
//! addresses of the SMTP sample are local so binding works; and the
//! MISC_CHECK samples' `/usr/local/bin/script.sh` exists and exits 0. Each
//! capture also reads the program's log after the table and fails if a
//! verdict was already logged.
//!
//! Needs qemu, the cached kernel and the keepalived package (`bash
//! .ci/setup`); skips without them unless `CI=true`.

use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec, SharedGuest};

const SAMPLES_DIR: &str = "/usr/share/doc/keepalived/samples";

/// Where the samples are in the guest.
const GUEST_DIR: &str = "/etc/lvsd-samples";

/// The samples with virtual servers (the non-zero rows of COUNTS in
/// tests/host/samples.rs).
const SAMPLES: &[&str] = &[
    "keepalived.conf.HTTP_GET.port",
    "keepalived.conf.IPv6",
    "keepalived.conf.PING_CHECK",
    "keepalived.conf.SMTP_CHECK",
    "keepalived.conf.SSL_GET",
    "keepalived.conf.UDP_CHECK",
    "keepalived.conf.fwmark",
    "keepalived.conf.inhibit",
    "keepalived.conf.misc_check",
    "keepalived.conf.misc_check_arg",
    "keepalived.conf.quorum",
    "keepalived.conf.sample",
    "keepalived.conf.status_code",
    "keepalived.conf.virtual_server_group",
    "keepalived.conf.virtualhost",
    "keepalived.conf.vrrp.lvs_syncd",
];

/// The configs of `tests/host/parity.rs` whose class changes what runs (how
/// keepalived reads them: `alpha VALUE`, `~SEQ` with parameters, multi-line
/// definitions, `lb_kind dr`, a misspelled checker, unknown schedulers,
/// ports beyond DR, real servers of another family): the same start table
/// under both programs. In the guest as `NAME.conf`.
const PARITY: &[&str] = &[
    "address_family",
    "alpha_argument",
    "lb_kind_lower_case",
    "misspelled_checker",
    "multiline_definition",
    "ports",
    "seq_real_server_block",
    "seq_variables",
    "unknown_scheduler",
];

/// Where [`PARITY`]'s configs are.
const PARITY_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/keepalived-t/parity"
);

static GUEST: SharedGuest = SharedGuest::new();

fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    let mut guest = GUEST.get(|| {
        let spec = GuestSpec::new("kernel_samples")
            .net_tools()
            .keepalived()
            .module("dummy")
            .binary_at(env!("CARGO_BIN_EXE_lvsd"), "/usr/local/bin/lvsd")
            // The MISC_CHECK samples' script: healthy.
            .bytes("/usr/local/bin/script.sh", "#!/bin/sh\nexit 0\n", 0o755)
            .dir(GUEST_DIR);
        let spec = SAMPLES.iter().fold(spec, |spec, name| {
            spec.file(
                format!("{SAMPLES_DIR}/{name}"),
                &format!("{GUEST_DIR}/{name}"),
            )
        });
        PARITY.iter().fold(spec, |spec, name| {
            spec.file(
                format!("{PARITY_DIR}/{name}.conf"),
                &format!("{GUEST_DIR}/{name}.conf"),
            )
        })
    })?;
    // Idempotent: every test calls it, the first one builds the sink.
    guest.run_ok(
        "ip link show sink >/dev/null 2>&1 && exit 0
        ip link set lo up
        ip link add sink type dummy
        ip link set sink up
        ip addr add 10.255.255.1/24 dev sink
        # The SMTP sample's bindto addresses.
        ip addr add 172.16.1.2/32 dev sink
        ip addr add 192.168.155.2/32 dev sink
        ip -6 addr add fd00:255::1/64 dev sink nodad
        ip route add default dev sink
        ip -6 route add default dev sink",
    );
    Some(guest)
}

/// The program under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Program {
    Lvsd,
    Keepalived,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Program::Lvsd => "lvsd",
            Program::Keepalived => "keepalived",
        }
    }

    fn command(self, conf: &str) -> String {
        match self {
            Program::Lvsd => {
                format!("lvsd -n -l -f {conf} --state-file /tmp/lvsd-samples.json")
            }
            Program::Keepalived => format!("keepalived -C -n -l -f {conf}"),
        }
    }

    /// A log line the program writes once its start table is in the kernel.
    fn started(self) -> &'static str {
        match self {
            Program::Lvsd => "lvsd started",
            // Logged per checker when the checkers are scheduled, after
            // every service and real server was added.
            Program::Keepalived => "Activating healthchecker",
        }
    }

    /// Log lines that mean a check's verdict changed the table.
    fn verdict(self) -> &'static str {
        match self {
            Program::Lvsd => "removing real server|inhibiting real server|down check=",
            Program::Keepalived => "Removing service|Disabling service|failed",
        }
    }
}

/// `ipvsadm -Sn`'s lines, sorted (the kernel lists real servers in the
/// order they were added).
fn canonical(table: &str) -> Vec<String> {
    let mut lines: Vec<String> = table
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    lines.sort_unstable();
    lines
}

/// The message of lvsd's rule for checker kinds it does not probe yet
/// (tests/host/unprobed_kinds.rs).
const UNPROBED: &str = "lvsd does not probe ";

/// Whether lvsd refuses sample `name` because it holds a checker kind lvsd
/// does not probe yet; if so, asserts what the operator sees: `lvsd -t`
/// names the kind, and lvsd refuses to start and leaves the table empty.
/// (The sample is compared with keepalived again when its kinds land.)
fn refused(guest: &mut Guest, name: &str) -> bool {
    let conf = format!("{GUEST_DIR}/{name}");
    let test = guest.run(&format!("lvsd -t -f {conf}")).unwrap();
    if !test.stderr.contains(UNPROBED) {
        return false;
    }
    assert_eq!(test.status, 5, "{name}: lvsd -t exit status\n{test}");
    guest.run_ok("ipvsadm -C");
    let start = guest
        .run_timeout(
            &format!("{} </dev/null", Program::Lvsd.command(&conf)),
            Duration::from_secs(20),
        )
        .unwrap();
    assert_ne!(start.status, 0, "{name}: lvsd started\n{start}");
    assert!(
        start.stderr.contains(UNPROBED),
        "{name}: lvsd's refusal does not name the kind\n{start}"
    );
    assert_eq!(
        guest.run_ok("ipvsadm -Sn"),
        "",
        "{name}: a refused start wrote"
    );
    eprintln!("{name}: refused by lvsd (a checker kind it does not probe yet)");
    true
}

/// Runs `program` on sample `name` from an empty table and returns its
/// start table (canonical); stops it and empties the table.
fn start_table(guest: &mut Guest, program: Program, name: &str) -> Vec<String> {
    guest.run_ok("ipvsadm -C");
    let who = program.name();
    guest
        .spawn(who, &program.command(&format!("{GUEST_DIR}/{name}")))
        .unwrap();
    let waited = guest.wait_for(
        &format!("grep -q '{}' /run/bg/{who}.log", program.started()),
        Duration::from_secs(15),
    );
    // The log is read after the table: a verdict in it may have changed
    // the table before it was read.
    let out = guest.run_ok(&format!("ipvsadm -Sn; echo @@log; cat /run/bg/{who}.log"));
    let log = guest.stop(who).unwrap();
    guest.run_ok("ipvsadm -C");
    let (table, log_then) = out.split_once("@@log\n").unwrap();
    if let Err(e) = waited {
        panic!("{name}: {who} did not start: {e}\n{who} log:\n{log}");
    }
    let early: Vec<&str> = log_then
        .lines()
        .filter(|l| program.verdict().split('|').any(|v| l.contains(v)))
        .collect();
    assert!(
        early.is_empty(),
        "{name}: {who} logged a verdict before its start table was read: {early:?}\n{who} log:\n{log}"
    );
    canonical(table)
}

/// Runs `program` on sample `name` from an empty table until `ipvsadm -Sn`
/// shows `expected` (in any order) or `timeout` passes, and returns the
/// table then (canonical) and the program's log; stops it and empties the
/// table.
fn settled_table(
    guest: &mut Guest,
    program: Program,
    name: &str,
    expected: &[&str],
    timeout: Duration,
) -> (Vec<String>, String) {
    guest.run_ok("ipvsadm -C");
    let mut want: Vec<&str> = expected.to_vec();
    want.sort_unstable();
    let want: String = want.iter().map(|l| format!("{l}\n")).collect();
    guest
        .write_file("/tmp/expected-table", want.as_bytes())
        .unwrap();
    let who = program.name();
    guest
        .spawn(who, &program.command(&format!("{GUEST_DIR}/{name}")))
        .unwrap();
    // A timeout is reported by the caller's comparison, with the table.
    let _ = guest.wait_for(
        "[ \"$(ipvsadm -Sn | sort)\" = \"$(cat /tmp/expected-table)\" ]",
        timeout,
    );
    let table = guest.run_ok("ipvsadm -Sn");
    let log = guest.stop(who).unwrap();
    guest.run_ok("ipvsadm -C");
    (canonical(&table), log)
}

/// Services and start real servers `lvsd --dump-config` describes: a
/// group counts one service per address of its ranges and per fwmark;
/// real servers start in every service unless `alpha`.
fn dump_counts(guest: &mut Guest, name: &str) -> (usize, usize) {
    let text = guest.run_ok(&format!("lvsd --dump-config -f {GUEST_DIR}/{name}"));
    let config: serde_json::Value = serde_json::from_str(&text).expect("--dump-config is JSON");
    let groups = config["groups"].as_array().expect("groups");
    let mut services = 0;
    let mut dests = 0;
    for vs in config["virtual_servers"]
        .as_array()
        .expect("virtual_servers")
    {
        let address = &vs["address"];
        let n = if let Some(group) = address["group"].as_str() {
            let group = groups
                .iter()
                .find(|g| g["name"] == group)
                .expect("the group is defined");
            group["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|entry| match entry.get("addr") {
                    Some(range) => range_len(&range["first"], &range["last"]),
                    None => 1,
                })
                .sum()
        } else {
            1
        };
        services += n;
        if vs["alpha"] != true {
            dests += n * vs["real_servers"].as_array().expect("real_servers").len();
        }
    }
    (services, dests)
}

/// Addresses in `first`..=`last`.
fn range_len(first: &serde_json::Value, last: &serde_json::Value) -> usize {
    let ip = |v: &serde_json::Value| -> u128 {
        match v.as_str().unwrap().parse::<std::net::IpAddr>().unwrap() {
            std::net::IpAddr::V4(a) => u32::from(a).into(),
            std::net::IpAddr::V6(a) => u128::from(a),
        }
    };
    (ip(last) - ip(first) + 1) as usize
}

fn count(table: &[String], prefix: &str) -> usize {
    table.iter().filter(|l| l.starts_with(prefix)).count()
}

/// Compares lvsd's and keepalived's start tables for sample `name`. A
/// sample that holds a checker kind lvsd does not probe yet is refused by
/// lvsd instead (see [`refused`]).
fn compare(name: &str) {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    if refused(guest, name) {
        return;
    }
    let keepalived = start_table(guest, Program::Keepalived, name);
    let lvsd = start_table(guest, Program::Lvsd, name);
    let (services, dests) = dump_counts(guest, name);
    eprintln!(
        "{name}: keepalived\n{}\nlvsd\n{}",
        keepalived.join("\n"),
        lvsd.join("\n")
    );
    assert_eq!(
        lvsd, keepalived,
        "{name}: lvsd's start table (left) differs from keepalived's"
    );
    assert_eq!(
        (count(&keepalived, "-A "), count(&keepalived, "-a ")),
        (services, dests),
        "{name}: keepalived's services and real servers vs lvsd --dump-config's counts"
    );
}

/// The longest a first verdict takes in the settled comparisons: warmup
/// (up to `delay_loop`, 6 s) + `connect_timeout` (3 s), and slack for TCG.
const FIRST_VERDICTS: Duration = Duration::from_secs(15);

/// Compares the tables after every check's first verdict for sample
/// `name`: keepalived's and lvsd's must both be `settled` (every probe
/// times out in the sink).
fn compare_settled(name: &str, settled: &[&str]) {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    let mut expected: Vec<&str> = settled.to_vec();
    expected.sort_unstable();
    for program in [Program::Keepalived, Program::Lvsd] {
        let (table, log) = settled_table(guest, program, name, settled, FIRST_VERDICTS);
        let who = program.name();
        assert_eq!(
            table, expected,
            "{name}: {who}'s settled table\n{who} log:\n{log}"
        );
    }
}

/// `sample`: the HTTP_GET check's first probe times out, the real server
/// leaves and the sorry server takes its place (quorum 1 lost).
#[test]
fn settled_sample_sorry_server_replaces_the_failed_real_server() {
    compare_settled(
        "keepalived.conf.sample",
        &[
            "-A -t 10.10.10.2:1358 -s rr -p 50",
            "-a -t 10.10.10.2:1358 -r 192.168.200.200:1358 -m -w 1",
        ],
    );
}

/// `inhibit`: the failed real server stays at weight 0.
#[test]
fn settled_inhibit_keeps_the_failed_real_server_at_weight_0() {
    compare_settled(
        "keepalived.conf.inhibit",
        &[
            "-A -t 10.10.10.2:1358 -s rr -p 50",
            "-a -t 10.10.10.2:1358 -r 192.168.200.2:1358 -m -w 0",
        ],
    );
}

/// `SSL_GET`: both real servers leave, under both programs (their probes,
/// HTTP_GET's and SSL_GET's, time out in the sink).
#[test]
fn settled_ssl_get_removes_both_real_servers() {
    compare_settled(
        "keepalived.conf.SSL_GET",
        &[
            "-A -t 192.168.200.100:443 -s rr -p 50",
            "-A -t 192.168.200.100:80 -s rr -p 50",
        ],
    );
}

macro_rules! sample_tests {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                compare($file);
            }
        )*
        /// Every sample of [`SAMPLES`] has its test.
        #[test]
        fn every_sample_with_virtual_servers_is_compared() {
            let mut tested = vec![$($file),*];
            tested.sort_unstable();
            let mut all = SAMPLES.to_vec();
            all.sort_unstable();
            assert_eq!(tested, all);
        }
    };
}

sample_tests! {
    http_get_port => "keepalived.conf.HTTP_GET.port",
    ipv6 => "keepalived.conf.IPv6",
    ping_check => "keepalived.conf.PING_CHECK",
    smtp_check => "keepalived.conf.SMTP_CHECK",
    ssl_get => "keepalived.conf.SSL_GET",
    udp_check => "keepalived.conf.UDP_CHECK",
    fwmark => "keepalived.conf.fwmark",
    inhibit => "keepalived.conf.inhibit",
    misc_check => "keepalived.conf.misc_check",
    misc_check_arg => "keepalived.conf.misc_check_arg",
    quorum => "keepalived.conf.quorum",
    sample => "keepalived.conf.sample",
    status_code => "keepalived.conf.status_code",
    virtual_server_group => "keepalived.conf.virtual_server_group",
    virtualhost => "keepalived.conf.virtualhost",
    vrrp_lvs_syncd => "keepalived.conf.vrrp.lvs_syncd",
}

macro_rules! parity_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                compare(concat!($name, ".conf"));
            }
        )*
        /// Every config of [`PARITY`] has its test.
        #[test]
        fn every_parity_config_is_compared() {
            let mut tested = vec![$($name),*];
            tested.sort_unstable();
            assert_eq!(tested, PARITY);
        }
    };
}

parity_tests! {
    parity_address_family => "address_family",
    parity_alpha_argument => "alpha_argument",
    parity_lb_kind_lower_case => "lb_kind_lower_case",
    parity_misspelled_checker => "misspelled_checker",
    parity_multiline_definition => "multiline_definition",
    parity_ports => "ports",
    parity_seq_real_server_block => "seq_real_server_block",
    parity_seq_variables => "seq_variables",
    parity_unknown_scheduler => "unknown_scheduler",
}
