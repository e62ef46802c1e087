//! `lvsd-backend`: the smallest TCP backend that a health check can hit.
//!
//! ```text
//! lvsd-backend [--stats] [--gaps] ADDR:PORT [ADDR:PORT...]
//! lvsd-backend 127.0.0.1:18081 [::1]:18082 127.0.0.1:0
//! ```
//!
//! It listens on every address given, accepts connections (one thread a
//! listener, polling its connections), reads each connection until the peer
//! closes it, then closes its side. It never writes, so a TCP_CHECK sees a
//! plain open port.
//!
//! On start it prints `listening ADDR` for each socket (with the real port
//! when `:0` was asked for), so a script can wait for that line.
//!
//! It exits on SIGTERM or SIGINT, and when its standard input is a pipe that
//! the parent closes (so a test that drops the child's stdin ends it). A
//! backend started in the background of a shell has `/dev/null` or a
//! terminal as stdin; that does not end it.
//!
//! With `--stats` it prints one line per address on exit and on SIGUSR1:
//!
//! ```text
//! stats 127.0.0.1:18081 conns=12 eof=11 reset=1 error=0
//! ```
//!
//! `eof` counts connections the peer closed with a FIN, `reset` those that
//! ended with ECONNRESET (the peer sent an RST, e.g. SO_LINGER 0), `error`
//! any other read error.
//!
//! With `--gaps` it notes when each target (the local address a connection
//! came to: one listener on 0.0.0.0 serves many) was last connected to, and
//! the gap since the connection before; SIGUSR1 prints, for the gaps since
//! the previous SIGUSR1, and starts afresh:
//!
//! ```text
//! gaps count=19874 median_ms=2013.0 max_ms=2950.2 targets=19990
//! ```
//!
//! `targets` counts the targets connected to in that time: a checker that
//! starves some target shows a long gap when it comes back to it, or fewer
//! targets.
//!
//! Deliberately std-only (and libc's `poll`): it also runs inside the test VM.

// Kept by clippy in CI (`.ci/run`, -D warnings); see Cargo.toml's [lints]
// for why these are here and not there.
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Set by the signal handlers, read by the main loop.
static STOP: AtomicBool = AtomicBool::new(false);
static DUMP: AtomicBool = AtomicBool::new(false);

/// What happened on one listening address.
#[derive(Default)]
struct Counters {
    conns: AtomicU64,
    eof: AtomicU64,
    reset: AtomicU64,
    error: AtomicU64,
}

/// With `--gaps`: each target's latest connection, and the gaps between
/// connections to a target since the last report.
#[derive(Default)]
struct Gaps {
    last: HashMap<SocketAddr, Instant>,
    gaps_ms: Vec<f64>,
    /// Targets connected to since the last report.
    targets: HashSet<SocketAddr>,
}

impl Gaps {
    fn note(&mut self, target: SocketAddr, at: Instant) {
        if let Some(before) = self.last.insert(target, at) {
            self.gaps_ms
                .push(at.saturating_duration_since(before).as_secs_f64() * 1e3);
        }
        self.targets.insert(target);
    }

    /// The report line; starts afresh (each target's latest connection is
    /// kept: the next gap is measured from it).
    fn report(&mut self) -> String {
        self.gaps_ms.sort_by(f64::total_cmp);
        let median = self.gaps_ms.get(self.gaps_ms.len() / 2).copied();
        let max = self.gaps_ms.last().copied();
        let line = format!(
            "gaps count={} median_ms={:.1} max_ms={:.1} targets={}",
            self.gaps_ms.len(),
            median.unwrap_or(0.0),
            max.unwrap_or(0.0),
            self.targets.len()
        );
        self.gaps_ms.clear();
        self.targets.clear();
        line
    }
}

type SharedGaps = Option<Arc<Mutex<Gaps>>>;

fn gaps_of(gaps: &Mutex<Gaps>) -> std::sync::MutexGuard<'_, Gaps> {
    gaps.lock().unwrap_or_else(PoisonError::into_inner)
}

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_dump(_: libc::c_int) {
    DUMP.store(true, Ordering::SeqCst);
}

fn main() {
    let mut stats = false;
    let mut gaps: SharedGaps = None;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--stats" {
            stats = true;
        } else if arg == "--gaps" {
            gaps = Some(Arc::default());
        } else if arg == "-h" || arg == "--help" {
            println!("usage: lvsd-backend [--stats] [--gaps] ADDR:PORT [ADDR:PORT...]");
            return;
        } else {
            match arg.parse() {
                Ok(a) => addrs.push(a),
                Err(e) => fail(&format!(
                    "bad address {arg:?}: {e} (want 1.2.3.4:80 or [::1]:80)"
                )),
            }
        }
    }
    if addrs.is_empty() {
        fail("no address given; usage: lvsd-backend [--stats] [--gaps] ADDR:PORT [ADDR:PORT...]");
    }

    let (stop, dump): (extern "C" fn(libc::c_int), extern "C" fn(libc::c_int)) = (on_stop, on_dump);
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, stop as libc::sighandler_t);
        libc::signal(libc::SIGINT, stop as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, dump as libc::sighandler_t);
    }

    let mut table = Vec::new();
    for addr in addrs {
        let listener = match TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) => fail(&format!("cannot listen on {addr}: {e}")),
        };
        let bound = listener.local_addr().unwrap_or(addr);
        println!("listening {bound}");
        let counters = Arc::new(Counters::default());
        table.push((bound, Arc::clone(&counters)));
        let gaps = gaps.clone();
        std::thread::spawn(move || accept_loop(listener, counters, gaps));
    }
    let _ = std::io::stdout().flush();

    if stdin_is_pipe() {
        std::thread::spawn(|| {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            STOP.store(true, Ordering::SeqCst);
        });
    }

    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        if DUMP.swap(false, Ordering::SeqCst) {
            if stats {
                print_stats(&table);
            }
            if let Some(gaps) = &gaps {
                let line = gaps_of(gaps).report();
                println!("{line}");
                let _ = std::io::stdout().flush();
            }
        }
    }
    if stats {
        print_stats(&table);
    }
}

/// How a connection ended.
enum Ended {
    Eof,
    Reset,
    Error,
}

/// Accepts and drains every connection of one listener, in one thread: a
/// `poll(2)` loop over the listener and the connections still open. (A
/// thread per connection cost the test VM's one CPU a millisecond or two a
/// connection: 14% of it at 55 health checks a second, which the programs
/// measured beside it paid for.)
fn accept_loop(listener: TcpListener, counters: Arc<Counters>, gaps: SharedGaps) {
    if let Err(e) = listener.set_nonblocking(true) {
        fail(&format!("cannot make the listener non-blocking: {e}"));
    }
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut buf = [0u8; 4096];
    let wanted = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        fds.clear();
        fds.push(wanted(listener.as_raw_fd()));
        fds.extend(conns.iter().map(|c| wanted(c.as_raw_fd())));
        // SAFETY: `fds` is a live array of `fds.len()` pollfd structs.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() != ErrorKind::Interrupted {
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        // Backwards, so that `swap_remove` only moves a connection already seen.
        for i in (0..conns.len()).rev() {
            if fds[i + 1].revents == 0 {
                continue;
            }
            if let Some(ended) = drain(&mut conns[i], &mut buf) {
                let counter = match ended {
                    Ended::Eof => &counters.eof,
                    Ended::Reset => &counters.reset,
                    Ended::Error => &counters.error,
                };
                counter.fetch_add(1, Ordering::SeqCst);
                conns.swap_remove(i);
            }
        }
        if fds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        counters.conns.fetch_add(1, Ordering::SeqCst);
                        if let (Some(gaps), Ok(target)) = (&gaps, stream.local_addr()) {
                            gaps_of(gaps).note(target, Instant::now());
                        }
                        if stream.set_nonblocking(true).is_ok() {
                            conns.push(stream);
                        } else {
                            counters.error.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // EMFILE and the like: back off instead of spinning.
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        break;
                    }
                }
            }
        }
    }
}

/// Reads what `stream` has; `Some` once it has ended (and how), `None`
/// while it is still open.
fn drain(stream: &mut TcpStream, buf: &mut [u8]) -> Option<Ended> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Some(Ended::Eof),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Some(Ended::Reset),
            Err(_) => return Some(Ended::Error),
        }
    }
}

fn print_stats(table: &[(SocketAddr, Arc<Counters>)]) {
    let mut out = std::io::stdout().lock();
    for (addr, c) in table {
        let _ = writeln!(
            out,
            "stats {addr} conns={} eof={} reset={} error={}",
            c.conns.load(Ordering::SeqCst),
            c.eof.load(Ordering::SeqCst),
            c.reset.load(Ordering::SeqCst),
            c.error.load(Ordering::SeqCst),
        );
    }
    let _ = out.flush();
}

/// True when stdin is a pipe (a parent that can close it to stop us).
fn stdin_is_pipe() -> bool {
    // SAFETY: fstat writes into the zeroed struct we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(0, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFIFO
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("lvsd-backend: {msg}");
    std::process::exit(2);
}
