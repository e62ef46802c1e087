//! FILE_CHECK in a real kernel, keepalived 2.2.7 and lvsd in the same boot
//! (see `tests/vm`): each follows its own copies of three tracked files
//! (weight 0, weight 0 reverse, weight 5), the test writes both copies at
//! once, and after every write both tables must hold the same thing; the
//! time from the write to the change is measured for both.
//!
//! keepalived's real servers are 10.202.1.{2,3,4}:80 behind 10.12.0.1:80,
//! lvsd's 10.202.2.{2,3,4}:80 behind 10.12.0.2:80. Nothing is probed: a
//! FILE_CHECK reads a file, so no backend and no network are needed.
//!
//! The one documented difference (docs/differences.md) shows at start: a
//! `weight 0 reverse` check whose file holds 1 starts down under keepalived
//! (it applies the non-reverse rule until the value changes) and up under
//! lvsd (the same rule as later).
//!
//! Needs qemu and the cached kernel (`bash .ci/setup`); skips without them
//! unless `CI=true`.

use std::time::Duration;

use lvsd_vm::{Guest, GuestSpec, SharedGuest};

static GUEST: SharedGuest = SharedGuest::new();

fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    GUEST.get(|| {
        lvsd_vm::with_lvsd!(GuestSpec::new("kernel_file_check")
            .keepalived()
            .tool("ipvsadm"))
    })
}

/// The config of checker `c` (`ka` or `lv`), its virtual server 10.12.0.`n`.
fn config(c: &str, n: u32) -> String {
    let rs = |host: u32, check: &str| {
        format!(
            "    real_server 10.202.{n}.{host} 80 {{\n        weight 10\n        FILE_CHECK {{\n{check}        }}\n    }}\n"
        )
    };
    format!(
        "track_file bin {{\n    file /run/fc/{c}-bin\n    weight 0\n}}\n\
         track_file rev {{\n    file /run/fc/{c}-rev\n    weight 0 reverse\n}}\n\
         track_file w {{\n    file /run/fc/{c}-w\n    weight 5\n}}\n\
         virtual_server 10.12.0.{n} 80 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{}{}{}}}\n",
        rs(2, "            track_file bin\n"),
        rs(3, "            track_file rev\n"),
        rs(4, "            track_file w\n"),
    )
}

/// Shell helpers: `weight_of HEX` sets W to the weight of the real server
/// HEX:0050 in /proc/net/ip_vs, or `absent` (bash builtins only, no fork);
/// `step NAME FILE VALUE KA_HEX KA_WANT LV_HEX LV_WANT` writes VALUE (or
/// `rm`) to both checkers' FILE (in the order `$ORDER`), then waits (5 ms naps) until both real
/// servers are as wanted, and prints when each got there.
const LIB: &str = r#"
mkfifo /run/fc/nap 2>/dev/null; exec 9<>/run/fc/nap
weight_of() {
  W=absent
  while read -r arrow addr fwd weight rest; do
    [ "$arrow" = "->" ] && [ "$addr" = "$1:0050" ] && W=$weight
  done < /proc/net/ip_vs
}
step() {
  local ka= lv= t0 end
  t0=$EPOCHREALTIME
  for c in $ORDER; do
    if [ "$3" = rm ]; then rm -f /run/fc/$c-$2; else echo "$3" > /run/fc/$c-$2; fi
  done
  end=$(( ${t0%.*} + 10 ))
  while [ -z "$ka" ] || [ -z "$lv" ]; do
    weight_of $4; [ -z "$ka" ] && [ "$W" = "$5" ] && ka=$EPOCHREALTIME
    weight_of $6; [ -z "$lv" ] && [ "$W" = "$7" ] && lv=$EPOCHREALTIME
    [ ${EPOCHREALTIME%.*} -ge $end ] && break
    read -t 0.005 -u 9
  done
  echo "step $1 $t0 ${ka:-never} ${lv:-never}"
}
"#;

/// A real server's address in /proc/net/ip_vs: 10.202.`n`.`host`.
fn hex(n: u32, host: u32) -> String {
    format!("0ACA{n:02X}{host:02X}")
}

/// CPU ticks (utime + stime) of every process whose command is `name`.
fn ticks(guest: &mut Guest, name: &str) -> u64 {
    let out = guest.run_ok(&format!(
        "t=0; for s in /proc/[0-9]*/stat; do read -r line < $s 2>/dev/null || continue; \
         case \"$line\" in *\"({name})\"*) set -- ${{line##*) }}; t=$((t + ${{12}} + ${{13}}));; esac; done; echo $t"
    ));
    out.trim()
        .parse()
        .unwrap_or_else(|e| panic!("ticks of {name}: {out:?}: {e}"))
}

#[test]
fn a_tracked_file_changes_both_tables_the_same_way() {
    let Some(mut guest) = guest() else { return };
    let g = &mut *guest;
    g.run_ok("ipvsadm -C && rm -rf /run/fc && mkdir -p /run/fc");
    g.write_file("/run/fc/lib.sh", LIB.as_bytes()).unwrap();
    g.write_file("/run/fc/ka.conf", config("ka", 1).as_bytes())
        .unwrap();
    g.write_file("/run/fc/lv.conf", config("lv", 2).as_bytes())
        .unwrap();
    // bin 0 (up), rev 1 (up by the rule), w absent (0: weight 10 + 0).
    g.run_ok("for c in ka lv; do echo 0 > /run/fc/$c-bin; echo 1 > /run/fc/$c-rev; done");
    g.spawn("keepalived", "keepalived -C -n -l -D -f /run/fc/ka.conf")
        .unwrap();
    // Drift repair (lvsd's own; keepalived has none) reads the table back
    // every 5 s: off here, so that the idle measure below is the checks'.
    g.spawn(
        "lvsd",
        "lvsd -n -l -f /run/fc/lv.conf --state-file /tmp/lvsd-fc.json --drift-interval 0",
    )
    .unwrap();
    let filled = format!(
        "grep -q {} /proc/net/ip_vs && grep -q {} /proc/net/ip_vs",
        hex(1, 4),
        hex(2, 4)
    );
    g.wait_for(&filled, Duration::from_secs(20)).unwrap();
    // Let both settle (keepalived writes its table in several steps).
    std::thread::sleep(Duration::from_secs(2));
    let start = g.run_ok(&format!(
        ". /run/fc/lib.sh; for h in 2 3 4; do weight_of {}0$h; k=$W; weight_of {}0$h; echo \"$h $k $W\"; done",
        &hex(1, 0)[..6],
        &hex(2, 0)[..6]
    ));
    println!("at start (host keepalived lvsd):\n{start}");
    assert_eq!(
        start.lines().collect::<Vec<_>>(),
        ["2 10 10", "3 absent 10", "4 10 10"],
        "at start: keepalived's weight 0 reverse check with 1 in its file is down \
         (docs/differences.md), everything else the same"
    );
    // Idle: neither file changes for 3 s. What does each checker spend?
    let (ka0, lv0) = (ticks(g, "keepalived"), ticks(g, "lvsd"));
    std::thread::sleep(Duration::from_secs(3));
    let (ka1, lv1) = (ticks(g, "keepalived"), ticks(g, "lvsd"));
    println!(
        "CPU ticks over 3 idle seconds: keepalived {}, lvsd {}",
        ka1 - ka0,
        lv1 - lv0
    );
    assert_eq!(lv1, lv0, "lvsd used CPU while no file changed");
    // (name, file, value, host, weight or `absent` after it, under both).
    let steps: &[(&str, &str, &str, u32, &str)] = &[
        ("bin=1", "bin", "1", 2, "absent"),
        ("rev=0", "rev", "0", 3, "absent"),
        ("rev=1", "rev", "1", 3, "10"),
        ("w=3", "w", "3", 4, "25"),
        ("w=-3", "w", "-3", 4, "0"),
        ("w=0x4", "w", "0x4", 4, "30"),
        ("w deleted", "w", "rm", 4, "10"),
        ("bin=0", "bin", "0", 2, "10"),
    ];
    let mut script = String::from(". /run/fc/lib.sh\n");
    for (i, (name, file, value, host, want)) in steps.iter().enumerate() {
        // Who is written first alternates, so neither is favoured.
        let order = if i % 2 == 0 { "ka lv" } else { "lv ka" };
        script.push_str(&format!(
            "ORDER='{order}' step '{name}' {file} {value} {} {want} {} {want}\n",
            hex(1, *host),
            hex(2, *host)
        ));
    }
    let out = g
        .run_timeout(&script, Duration::from_secs(120))
        .unwrap()
        .stdout;
    println!("| step | keepalived ms | lvsd ms |\n|---|---|---|");
    let mut failures = Vec::new();
    for line in out.lines().filter_map(|l| l.strip_prefix("step ")) {
        let f: Vec<&str> = line.rsplitn(4, ' ').collect();
        let (lv, ka, t0, name) = (f[0], f[1], f[2], f[3]);
        let ms = |t: &str| -> Option<f64> {
            Some((t.parse::<f64>().ok()? - t0.parse::<f64>().ok()?) * 1000.0)
        };
        let show = |t: Option<f64>| t.map_or("never".to_string(), |t| format!("{t:.1}"));
        println!("| {name} | {} | {} |", show(ms(ka)), show(ms(lv)));
        if ms(ka).is_none() || ms(lv).is_none() {
            failures.push(format!("{name}: keepalived {ka}, lvsd {lv}"));
        }
    }
    assert_eq!(
        out.lines().filter(|l| l.starts_with("step ")).count(),
        steps.len(),
        "{out}"
    );
    // The whole table, each checker's part with its addresses made alike.
    let table = g.run_ok("ipvsadm -Sn");
    let part = |n: u32| -> Vec<String> {
        let mut lines: Vec<String> = table
            .lines()
            .filter(|l| l.contains(&format!("10.12.0.{n}:80")))
            .map(|l| {
                l.replace(&format!("10.12.0.{n}:"), "VIP:")
                    .replace(&format!("10.202.{n}."), "RS.")
            })
            .collect();
        lines.sort();
        lines
    };
    g.stop("keepalived").unwrap();
    g.stop("lvsd").unwrap();
    assert!(
        failures.is_empty(),
        "a table did not follow: {failures:#?}\n{out}"
    );
    assert_eq!(part(1), part(2), "final tables differ:\n{table}");
}
