//! The scenario's backends: one `lvsd-backend` per virtual server in each
//! of the namespaces `rs1`..`rs3` (made by `lib.sh`'s `make_namespaces`),
//! started and stopped by name.

use std::time::Duration;

use lvsd_vm::Guest;

/// Backend NAME is `be-<vs><n>`: virtual server `a` (port 8081) or `b`
/// (port 8082) in namespace `rs<n>`.
pub fn backend_command(name: &str) -> String {
    let (vs, n) = name
        .strip_prefix("be-")
        .and_then(|s| s.split_at_checked(1))
        .expect("backend name be-<vs><n>");
    let port = if vs == "a" { 8081 } else { 8082 };
    format!("ip netns exec rs{n} lvsd-backend 10.200.{n}.2:{port}")
}

pub const ALL_BACKENDS: [&str; 6] = ["be-a1", "be-a2", "be-a3", "be-b1", "be-b2", "be-b3"];

pub fn start_backends(guest: &mut Guest, names: &[&str]) {
    for name in names {
        guest.spawn(name, &backend_command(name)).unwrap();
    }
    let ready: Vec<String> = names
        .iter()
        .map(|n| format!("grep -q listening /run/bg/{n}.log"))
        .collect();
    guest
        .wait_for(&ready.join(" && "), Duration::from_secs(10))
        .unwrap();
}

pub fn stop_backends(guest: &mut Guest, names: &[&str]) {
    for name in names {
        guest.stop(name).unwrap();
    }
}
