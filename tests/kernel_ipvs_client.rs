//! `NetlinkTable`'s methods beyond the `IpvsTable` trait, against the real
//! kernel: info, timeouts, sync daemons, one-service lookups, typed errors,
//! a network namespace given by path, and a 100,000-destination dump.
//!
//! This test binary copies itself into the guest and runs its own ignored
//! `guest_side_*` functions there (they need the kernel's IPVS, which the
//! host lacks); the host side checks what they did with `ipvsadm`.
//!
//! Needs qemu and the cached kernel (`bash .ci/setup`); skips without them
//! unless `CI=true`.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use lvsd::ipvs::settings::{SyncDaemon, SyncState, Timeouts};
use lvsd::ipvs::{
    DestKey, Destination, ForwardMethod, IpvsError, IpvsTable, NetlinkTable, Protocol, Service,
    ServiceFlags, ServiceKey, TableOp, Tunnel, TunnelType,
};
use lvsd_vm::{Guest, GuestSpec, SharedGuest};

static GUEST: SharedGuest = SharedGuest::new();
const SELF_IN_GUEST: &str = "/usr/local/bin/kernel_ipvs_client";

fn guest() -> Option<std::sync::MutexGuard<'static, Guest>> {
    GUEST.get(|| {
        GuestSpec::new("kernel_ipvs_client")
            .memory_mb(1536)
            .net_tools()
            .binary_at(std::env::current_exe().expect("test binary"), SELF_IN_GUEST)
    })
}

/// True inside the guest; the `guest_side_*` entry points do nothing on the
/// host (they are ignored tests the host test runs in the VM).
fn in_guest() -> bool {
    if std::env::var_os("LVSD_IN_GUEST").is_some() {
        return true;
    }
    println!("skipped: a guest-side entry point; the host tests run it inside the VM");
    false
}

/// Run one of this file's `guest_side_*` functions inside the guest.
fn run_guest_side(guest: &mut Guest, name: &str) -> String {
    let out = guest
        .run_timeout(
            &format!("LVSD_IN_GUEST=1 {SELF_IN_GUEST} --ignored --exact {name} --nocapture --test-threads 1"),
            Duration::from_secs(900),
        )
        .expect("guest side runs");
    assert!(out.success(), "{name} failed in the guest:\n{out}");
    out.stdout
}

fn service(addr: &str, port: u16) -> Service {
    Service {
        key: ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: addr.parse().unwrap(),
            port,
        },
        scheduler: "rr".into(),
        flags: ServiceFlags(0),
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: None,
    }
}

fn dest(addr: IpAddr, port: u16) -> Destination {
    Destination {
        key: DestKey { addr, port },
        fwd: ForwardMethod::Masq,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: Tunnel::default(),
    }
}

#[test]
#[ignore = "runs inside the VM (see settings_daemons_and_errors_in_the_kernel)"]
fn guest_side_settings() {
    if !in_guest() {
        return;
    }
    let mut t = NetlinkTable::open().expect("IPVS family");
    let info = t.info().unwrap();
    assert_eq!(info.version, 0x010201);
    assert!(info.conn_tab_size > 0);
    println!("info {}", info.conn_tab_size);

    t.set_timeouts(&Timeouts {
        tcp: 901,
        tcp_fin: 121,
        udp: 301,
    })
    .unwrap();
    assert_eq!(
        t.timeouts().unwrap(),
        Timeouts {
            tcp: 901,
            tcp_fin: 121,
            udp: 301
        }
    );
    // Zero leaves a value as it is.
    t.set_timeouts(&Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 302,
    })
    .unwrap();
    assert_eq!(
        t.timeouts().unwrap(),
        Timeouts {
            tcp: 901,
            tcp_fin: 121,
            udp: 302
        }
    );

    let daemon = SyncDaemon {
        state: SyncState::Backup,
        mcast_ifn: "lo".into(),
        syncid: 7,
        sync_maxlen: 1400,
        mcast_group: Some("239.1.2.3".parse().unwrap()),
        mcast_port: 8850,
        mcast_ttl: 2,
    };
    t.start_daemon(&daemon).unwrap();
    assert_eq!(t.daemons().unwrap(), vec![daemon.clone()]);
    assert_eq!(t.start_daemon(&daemon), Err(IpvsError::Exists));

    // One-service lookups and typed errors.
    t.flush().unwrap();
    let s = service("10.9.0.1", 80);
    let d = dest("10.9.1.1".parse().unwrap(), 80);
    t.apply_one(&TableOp::AddService(s.clone())).unwrap();
    assert_eq!(t.service(&s.key).unwrap().service, s);
    let missing = service("10.9.0.2", 80).key;
    assert_eq!(t.service(&missing).err(), Some(IpvsError::NoService));
    assert_eq!(
        t.apply_one(&TableOp::AddService(s.clone())),
        Err(IpvsError::Exists)
    );
    assert_eq!(
        t.apply_one(&TableOp::AddDest(missing, d)),
        Err(IpvsError::NoService)
    );
    assert_eq!(
        t.apply_one(&TableOp::UpdateDest(s.key, d)),
        Err(IpvsError::NoDestination)
    );
    t.apply_one(&TableOp::AddDest(s.key, d)).unwrap();
    assert_eq!(t.dests(&s.key).unwrap().len(), 1);
    t.zero().unwrap();

    // Changes ipvsadm's parser would refuse before the kernel sees them:
    // the kernel's answers must be the in-memory table's.
    t.flush().unwrap();
    let v6 = Service {
        key: ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: "2001:db8::5".parse().unwrap(),
            port: 53,
        },
        netmask: 0,
        ..service("10.9.0.1", 80)
    };
    let mut gue = dest("10.9.1.2".parse().unwrap(), 80);
    gue.fwd = ForwardMethod::Tunnel;
    gue.tunnel.kind = TunnelType::Gue;
    let mut quiesced = dest("10.9.1.3".parse().unwrap(), 80);
    quiesced.weight = 0;
    let ops = vec![
        TableOp::AddService(v6.clone()),
        TableOp::AddService(Service {
            netmask: 129,
            ..v6.clone()
        }),
        TableOp::AddService(Service {
            netmask: 64,
            ..v6.clone()
        }),
        TableOp::AddService(s.clone()),
        TableOp::AddDest(s.key, dest("2001:db8::9".parse().unwrap(), 80)),
        TableOp::AddDest(s.key, gue),
        TableOp::AddDest(s.key, Destination { weight: -3, ..d }),
        TableOp::AddDest(s.key, quiesced),
        TableOp::UpdateDest(
            s.key,
            Destination {
                l_threshold: 9,
                u_threshold: 8,
                ..quiesced
            },
        ),
        TableOp::UpdateService(Service {
            scheduler: "nosuch".into(),
            ..s.clone()
        }),
        TableOp::RemoveService(v6.key),
        TableOp::RemoveService(v6.key),
    ];
    let kernel = t.apply(&ops);
    let memory = lvsd::ipvs::MemoryTable::new().apply(&ops);
    assert_eq!(kernel, memory, "kernel and MemoryTable answer alike");
    assert_eq!(kernel[0], Err(IpvsError::Errno(libc::EINVAL)));
    assert_eq!(
        lvsd::ipvs::format::save(&t.dump().unwrap()),
        "-A -t 10.9.0.1:80 -s rr\n-a -t 10.9.0.1:80 -r 10.9.1.3:80 -m -w 0\n"
    );
    println!("settings ok");
}

#[test]
#[ignore = "runs inside the VM (see settings_daemons_and_errors_in_the_kernel)"]
fn guest_side_netns() {
    if !in_guest() {
        return;
    }
    let mut t = NetlinkTable::open_in_netns(Path::new("/run/netns/other")).expect("netns table");
    t.apply_one(&TableOp::AddService(service("10.8.0.1", 8080)))
        .unwrap();
    assert_eq!(t.dump().unwrap().len(), 1);
    assert_eq!(
        NetlinkTable::open_in_netns(Path::new("/nonexistent"))
            .err()
            .map(|e| matches!(e, IpvsError::Io(_))),
        Some(true)
    );
    println!("netns ok");
}

#[test]
#[ignore = "runs inside the VM (see a_100000_destination_dump_loses_nothing)"]
fn guest_side_big_dump() {
    if !in_guest() {
        return;
    }
    let mut t = NetlinkTable::open().expect("IPVS family");
    t.flush().unwrap();
    let mut ops = Vec::new();
    for i in 0..1000u32 {
        let s = service(&format!("10.{}.{}.1", 100 + i / 250, i % 250), 80);
        for j in 0..100u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0xac10_0000 + (i * 100 + j)));
            ops.push(TableOp::AddDest(s.key, dest(addr, 80)));
        }
        ops.insert(ops.len() - 100, TableOp::AddService(s));
    }
    let start = Instant::now();
    let results = t.apply(&ops);
    let applied = start.elapsed();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        101_000,
        "every change acked Ok"
    );
    let start = Instant::now();
    let dump = t.dump().unwrap();
    let dumped = start.elapsed();
    assert_eq!(dump.len(), 1000);
    assert_eq!(dump.iter().map(|s| s.dests.len()).sum::<usize>(), 100_000);
    println!("applied 101000 changes in {applied:?}, dumped 100000 destinations in {dumped:?}");
}

#[test]
fn settings_daemons_and_errors_in_the_kernel() {
    let Some(mut guest) = guest() else { return };
    let out = run_guest_side(&mut guest, "guest_side_settings");
    assert!(out.contains("settings ok"), "{out}");
    assert_eq!(
        guest.run_ok("ipvsadm -L --timeout"),
        "Timeout (tcp tcpfin udp): 901 121 302\n"
    );
    let daemon = guest.run_ok("ipvsadm -L --daemon");
    assert!(
        daemon.contains("backup sync daemon (mcast=lo, syncid=7"),
        "{daemon}"
    );
    guest.run_ok("ipvsadm --stop-daemon backup");

    guest.run_ok("ip netns add other");
    let out = run_guest_side(&mut guest, "guest_side_netns");
    assert!(out.contains("netns ok"), "{out}");
    assert_eq!(
        guest.run_ok("ip netns exec other ipvsadm -Sn"),
        "-A -t 10.8.0.1:8080 -s rr\n"
    );
    assert!(!guest.run_ok("ipvsadm -Sn").contains("10.8.0.1"));
}

#[test]
fn a_100000_destination_dump_loses_nothing() {
    let Some(mut guest) = guest() else { return };
    let out = run_guest_side(&mut guest, "guest_side_big_dump");
    let figures = out.lines().find_map(|l| l.find("applied").map(|i| &l[i..]));
    println!(
        "in the guest: {}",
        figures.expect("the guest side printed its figures")
    );
    assert_eq!(
        guest.run_ok("ipvsadm -Ln | grep -c -- '->'").trim(),
        "100001"
    );
    guest.run_ok("ipvsadm -C");
}
