//! Boot-time figures for `bench/run`: how long until a guest serves its
//! first command, and a boot plus a small IPVS scenario, against the 15 s
//! goal. Also compares vCPUs, memory and initramfs compression, so the
//! harness defaults stay the fastest. Figures are wall times on a loaded
//! 2-core machine under TCG: compare within one run, not across runs.
//!
//! `cargo run --release -p lvsd-vm --example boot_time [--quick]`

use std::time::{Duration, Instant};

use lvsd_vm::{Guest, GuestSpec};

/// The small scenario: one service, two real servers, read back.
const SCENARIO: &str = "set -e
ipvsadm -A -t 10.1.1.1:80 -s wrr
ipvsadm -a -t 10.1.1.1:80 -r 10.200.0.2:80 -m -w 3
ipvsadm -a -t 10.1.1.1:80 -r 10.200.0.3:80 -m -w 1
ipvsadm -Sn | wc -l";

/// Builds the spec of one variant (a fresh one per boot).
type MakeSpec = dyn Fn() -> GuestSpec;

const GOAL: Duration = Duration::from_secs(15);

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 2 };
    let base = || GuestSpec::new("bench-boot").net_tools();
    // The reference: the kernel with no modules but the command channel's.
    let bare = || {
        let mut spec = GuestSpec::new("bench-boot-bare");
        spec.modules.clear();
        spec
    };
    let mut variants: Vec<(&str, Box<MakeSpec>)> = vec![
        ("defaults", Box::new(base)),
        ("bare kernel", Box::new(bare)),
    ];
    if !quick {
        variants.push(("-smp 2", Box::new(move || base().cpus(2))));
        variants.push(("-m 256", Box::new(move || base().memory_mb(256))));
        variants.push(("+keepalived", Box::new(move || base().keepalived())));
        variants.push((
            "+keepalived, gzip -1 initramfs",
            Box::new(move || base().keepalived().gzip_initrd(true)),
        ));
    }
    // Rounds interleave the variants so load from other work spreads evenly;
    // each variant keeps its fastest round.
    let mut best = vec![(Duration::MAX, Duration::MAX); variants.len()];
    for _ in 0..rounds {
        for (i, (_, spec)) in variants.iter().enumerate() {
            let (first, total) = measure(spec());
            best[i] = (best[i].0.min(first), best[i].1.min(total));
        }
    }
    let (boot, total) = best[0];
    figure("guest boot to first command (s)", boot, GOAL);
    figure("boot + small IPVS scenario (s)", total, GOAL);
    figure("boot to first command vs bare kernel (s)", boot, best[1].0);
    for (i, (what, _)) in variants.iter().enumerate().skip(2) {
        figure(
            &format!("boot to first command, {what} vs defaults (s)"),
            best[i].0,
            boot,
        );
    }
}

/// (boot to first answer, boot + scenario) for one fresh guest.
/// A spec without ipvsadm (the bare reference) skips the scenario.
fn measure(spec: GuestSpec) -> (Duration, Duration) {
    let with_ipvs = !spec.modules.is_empty();
    let started = Instant::now();
    let mut guest = match Guest::boot(spec) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("boot_time: {e}");
            std::process::exit(1);
        }
    };
    guest.run_ok("true");
    let first = started.elapsed();
    if with_ipvs {
        let lines = guest.run_ok(SCENARIO);
        assert_eq!(lines.trim(), "3", "the scenario's table");
    }
    let total = started.elapsed();
    let _ = guest.shutdown();
    (first, total)
}

fn figure(what: &str, ours: Duration, reference: Duration) {
    println!(
        "figure: {what}: lvsd {:.2} | reference {:.2} | ratio {:.2}",
        ours.as_secs_f64(),
        reference.as_secs_f64(),
        ours.as_secs_f64() / reference.as_secs_f64()
    );
}
