//! The checker group: probes of each kind against real servers nobody here
//! wrote, in one test binary (one link instead of one per file). Most need
//! root and iproute2 for the network namespaces `checker_support` makes
//! (`NetPair`: a client and a backend namespace, addresses that exist only
//! there); the loopback ones say so in their opening `//!`. A new probe
//! test goes into the module of its check kind; a new kind is a new file
//! here and a line below (`tests/README.md` says which group a test needs).
//!
//! The tests of all modules run at once on cargo's test threads: a
//! namespace's name is unique in the process (`NetPair::new` counts), and
//! a loopback server takes a port the kernel chose. Tests that assert
//! instants within milliseconds are not here: `checker_timing` and
//! `checker_engine` are binaries of their own, so nothing heavy runs
//! beside them.
//!
//! - `close`: a graceful close never resets a backend
//! - `dns`: DNS_CHECK against dnsmasq, on loopback
//! - `http`: HTTP_GET against busybox httpd and scripted servers
//! - `kept_sockets`: a datagram probe's socket kept across attempts
//! - `kinds`: HTTP_GET and MISC_CHECK on loopback
//! - `smtp`: SMTP_CHECK against OpenSMTPD
//! - `tls`: SSL_GET against `openssl s_server`
//! - `udp_ping`: UDP_CHECK and PING_CHECK
//! - `verdicts`: TCP_CHECK verdicts and the source options
//! - `bfd_peers`: BFD_CHECK against FRR's bfdd
//!
//! Shared with other test binaries (folders under `tests/`):
//! - `checker_support`: namespaces, backends, check specs
//! - `dry_run_support`: starting `lvsd --dry-run` (in a namespace)
//! - `tls_support`: certificates and TLS servers

#[path = "../checker_support/mod.rs"]
mod checker_support;
#[path = "../dry_run_support/mod.rs"]
mod dry_run_support;
#[path = "../tls_support/mod.rs"]
mod tls_support;

mod bfd_peers;
mod close;
mod dns;
mod http;
mod kept_sockets;
mod kinds;
mod smtp;
mod tls;
mod udp_ping;
mod verdicts;
