//! Drift: hand edits of lvsd's services are undone, and a service lvsd
//! does not own is left alone throughout.

use std::time::Duration;

use super::backends::{start_backends, stop_backends, ALL_BACKENDS};
use super::guest;
use super::least_privilege::{as_the_unit, assert_unit_capabilities};
use super::scenario::{FULL, SCENARIO};
use super::watch::{canonical, wait_log, wait_table};

/// A service lvsd does not own, made before it starts.
const FOREIGN: &str = "\
-A -t 10.99.0.1:80 -s rr
-a -t 10.99.0.1:80 -r 10.200.3.2:9999 -m -w 5
";

/// Hand edits (`ipvsadm -d`, `ipvsadm -e`) of lvsd's services are undone
/// within the drift interval; a foreign service is left alone through
/// start, reload, drift repair and stop.
#[test]
fn drift_is_repaired_and_foreign_services_are_left_alone() {
    let Some(mut guest) = guest() else { return };
    let guest = &mut *guest;
    guest.run_ok(
        "ipvsadm -C
        ipvsadm -A -t 10.99.0.1:80 -s rr
        ipvsadm -a -t 10.99.0.1:80 -r 10.200.3.2:9999 -m -w 5",
    );
    start_backends(guest, &ALL_BACKENDS);
    guest
        .spawn(
            "lvsd",
            &as_the_unit(&format!(
                "lvsd -n -l -f {SCENARIO} --drift-interval 1 --state-file /tmp/lvsd-drift.json"
            )),
        )
        .unwrap();
    let both = format!("{FULL}{FOREIGN}");
    assert_eq!(
        wait_table(guest, &both, Duration::from_secs(20)),
        canonical(&both)
    );
    assert_unit_capabilities(guest, "lvsd");

    // Remove one real server and change another's weight by hand; time
    // until the table is whole again (every 20 ms in the guest).
    let out = guest.run_ok(
        ". /etc/lvsd-test/lib.sh
        sort_table() { ipvsadm -Sn | sort; }
        want=$(sort_table)
        t0=$(uptime_cs)
        ipvsadm -d -t 10.10.0.1:80 -r 10.200.2.2:8081
        ipvsadm -e -t 10.10.0.2:80 -r 10.200.3.2:8082 -m -w 7
        while [ \"$(sort_table)\" != \"$want\" ]; do
            [ $(( $(uptime_cs) - t0 )) -gt 1000 ] && break
            sleep 0.02
        done
        echo $(( $(uptime_cs) - t0 ))",
    );
    let seconds = out.trim().parse::<f64>().unwrap() / 100.0;
    eprintln!("drift repaired in {seconds:.2} s (interval 1 s)");
    assert_eq!(canonical(&guest.run_ok("ipvsadm -Sn")), canonical(&both));
    // The interval, plus the guest's slowness (TCG) as slack.
    assert!(seconds <= 2.5, "drift repaired after {seconds} s");
    wait_log(guest, "lvsd", "drift repaired", 1);

    guest.signal("lvsd", "HUP").unwrap();
    wait_log(guest, "lvsd", "reload complete", 1);
    assert_eq!(canonical(&guest.run_ok("ipvsadm -Sn")), canonical(&both));

    let log = guest.stop("lvsd").unwrap();
    stop_backends(guest, &ALL_BACKENDS);
    let after = guest.run_ok("ipvsadm -Sn");
    guest.run_ok("ipvsadm -C");
    assert_eq!(canonical(&after), canonical(FOREIGN), "lvsd log:\n{log}");
}
