//! Two network namespaces joined by a veth: `c` (lvsd, the measured side)
//! and `b` (its peer), with `n` addresses a side, one pair a session
//! (FRR's bfdd keeps one single-hop session per peer address), and the
//! neighbours made permanent (a thousand a side is more than the kernel's
//! ARP table keeps at ease: gc_thresh2 512, gc_thresh3 1,024, global; the
//! garbage collector does not count permanent entries).

use std::io::Write;
use std::process::{Command, Stdio};

/// The `i`th session's address on the peer's side: 10.200.1.1 onwards.
pub fn peer(i: usize) -> String {
    format!("10.200.{}.{}", 1 + i / 250, 1 + i % 250)
}

/// The `i`th session's address on lvsd's side: 10.201.1.1 onwards.
pub fn ours(i: usize) -> String {
    format!("10.201.{}.{}", 1 + i / 250, 1 + i % 250)
}

/// A network namespace, deleted when dropped.
pub struct Netns(pub String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The two namespaces of a run.
pub struct Pair {
    /// lvsd's side: addresses [`ours`].
    pub c: Netns,
    /// The peer's side: addresses [`peer`].
    pub b: Netns,
    /// Sessions (address pairs).
    pub n: usize,
}

/// Runs `ip -n ns -batch -` on `commands`.
fn ip_batch(ns: &str, commands: &str) {
    let mut child = Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "ip -batch");
}

impl Pair {
    /// Makes the namespaces (named after `tag`, unique to the run) with
    /// `n` address pairs.
    pub fn new(tag: &str, n: usize) -> Pair {
        let pair = Pair {
            c: Netns(format!("lvsdbfd-c-{tag}")),
            b: Netns(format!("lvsdbfd-b-{tag}")),
            n,
        };
        for ns in [&pair.c.0, &pair.b.0] {
            let ok = Command::new("ip")
                .args(["netns", "add", ns])
                .status()
                .unwrap();
            assert!(ok.success(), "ip netns add {ns}");
        }
        let (c, b) = (&pair.c.0, &pair.b.0);
        ip_batch(
            c,
            &format!(
                "link add eth0 type veth peer name eth0 netns {b}\nlink set eth0 up\nlink set lo up\n"
            ),
        );
        let mac = |ns: &str| {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "cat", "/sys/class/net/eth0/address"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let (c_mac, b_mac) = (mac(c), mac(b));
        let (mut c_cmds, mut b_cmds) = (String::new(), String::new());
        for i in 0..n {
            c_cmds += &format!("addr add {}/15 dev eth0\n", ours(i));
            b_cmds += &format!("addr add {}/15 dev eth0\n", peer(i));
        }
        b_cmds += "link set eth0 up\nlink set lo up\n";
        for i in 0..n {
            c_cmds += &format!(
                "neigh replace {} lladdr {b_mac} dev eth0 nud permanent\n",
                peer(i)
            );
            b_cmds += &format!(
                "neigh replace {} lladdr {c_mac} dev eth0 nud permanent\n",
                ours(i)
            );
        }
        ip_batch(c, &c_cmds);
        ip_batch(b, &b_cmds);
        pair
    }

    /// lvsd's keepalived.conf for the `c` side: a `bfd_instance` a session
    /// (3 × 50 ms) and a real server with its `BFD_CHECK` each, in virtual
    /// server 10.0.0.1:80.
    pub fn lvsd_conf(&self) -> String {
        conf(self.n, &peer, &ours, "10.0.0.1")
    }

    /// The same for a peer lvsd on the `b` side (virtual server 10.0.0.2).
    pub fn peer_lvsd_conf(&self) -> String {
        conf(self.n, &ours, &peer, "10.0.0.2")
    }

    /// FRR bfdd's config for the `b` side: a `peer` a session, 3 × 50 ms.
    pub fn bfdd_conf(&self) -> String {
        let mut conf = String::from("bfd\n");
        for i in 0..self.n {
            conf += &format!(
                " peer {} local-address {}\n  receive-interval 50\n  transmit-interval 50\n  detect-multiplier 3\n !\n",
                ours(i),
                peer(i)
            );
        }
        conf
    }
}

/// `n` sessions from `local(i)` to `neighbor(i)`, each with a real server.
fn conf(
    n: usize,
    neighbor: &dyn Fn(usize) -> String,
    local: &dyn Fn(usize) -> String,
    vip: &str,
) -> String {
    let mut conf = String::new();
    for i in 0..n {
        conf += &format!(
            "bfd_instance s{i} {{\n neighbor_ip {}\n source_ip {}\n min_rx 50\n min_tx 50\n multiplier 3\n}}\n",
            neighbor(i),
            local(i)
        );
    }
    conf += &format!("virtual_server {vip} 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP\n");
    for i in 0..n {
        conf += &format!(
            " real_server {} 80 {{\n  BFD_CHECK {{\n   name s{i}\n   alpha\n  }}\n }}\n",
            neighbor(i)
        );
    }
    conf + "}\n"
}

/// Moves the calling thread into network namespace `ns`.
pub fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("the namespace");
    use std::os::fd::AsRawFd;
    // SAFETY: setns(2) on this thread only, with a namespace fd we hold.
    let entered = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(entered, 0, "setns {ns}");
}
