//! `lvsd-flows`: long-lived TCP connections that talk all the time, to see
//! what a director failover does to established connections.
//!
//! ```text
//! lvsd-flows echo ADDR:PORT                  # ip netns exec rs lvsd-flows echo 0.0.0.0:80
//! lvsd-flows hold ADDR:PORT N EVERY_MS STOP  # ip netns exec cl lvsd-flows hold 10.50.0.100:80 100 200 /run/stop
//! ```
//!
//! **echo** accepts connections and sends back every byte it reads; it
//! prints `listening ADDR` once it listens.
//!
//! **hold** opens N connections to ADDR:PORT one after another, prints
//! `opened N`, then every EVERY_MS each connection sends one line and reads
//! its echo. It stops once the file STOP exists and prints one line:
//!
//! ```text
//! flows conns=100 alive=100 reset=0 closed=0 error=0 max_silence_ms=3612
//! ```
//!
//! `reset` counts connections that ended with ECONNRESET or EPIPE (a
//! director without the connection answered with an RST), `closed` those
//! the peer closed, `error` any other failure; `max_silence_ms` is the
//! longest time any connection went without an echo (while it lived), the
//! outage an application on it would have seen. Each connection that did
//! not live to the end also gets a line `broken INDEX KIND after_ms=T`.
//!
//! A file `STOP.mark` splits the run into phases (a failover, then a
//! failback): when it appears, `hold` prints `phase max_silence_ms=T` for
//! the silences that ended since the start or the last mark, and removes
//! it; the last phase's line comes before the summary.
//!
//! The connections are what TCP calls thin streams (a little data now and
//! then, never more than a segment in flight: Nagle is left on), and ask
//! for the linear retransmission timeouts Linux offers such streams
//! (`TCP_THIN_LINEAR_TIMEOUTS`): a lost line is sent again every RTO for six
//! tries rather than after 0.2, 0.6, 1.4, 3.0, 6.2 s. So once the path is
//! back, TCP is at most one RTO late, and the silence measures the
//! failover rather than where it fell in the exponential backoff.
//!
//! Both sides are one thread in a `poll(2)` loop: under the VM's emulated
//! CPU, 100 threads waking five times a second each would starve the
//! programs under test.

// Kept by clippy in CI (`.ci/run`, -D warnings); see Cargo.toml's [lints]
// for why these are here and not there.
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["echo", addr] => parse(addr).and_then(echo),
        ["hold", addr, n, every, stop] => (|| {
            let n = n.parse().map_err(|_| format!("N: not a number: {n}"))?;
            let every = every
                .parse()
                .map_err(|_| format!("EVERY_MS: not a number: {every}"))?;
            hold(parse(addr)?, n, Duration::from_millis(every), stop.into())
        })(),
        _ => Err("usage: lvsd-flows echo ADDR:PORT | hold ADDR:PORT N EVERY_MS STOPFILE".into()),
    };
    if let Err(e) = result {
        eprintln!("lvsd-flows: {e}");
        std::process::exit(2);
    }
}

fn parse(addr: &str) -> Result<SocketAddr, String> {
    addr.parse().map_err(|_| format!("not ADDR:PORT: {addr}"))
}

/// Wait until one of `fds` is ready or `timeout` passed.
fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> Result<(), String> {
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a live, exclusively borrowed array of `fds.len()` pollfds.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    match n < 0 && std::io::Error::last_os_error().kind() != ErrorKind::Interrupted {
        true => Err(format!("poll: {}", std::io::Error::last_os_error())),
        false => Ok(()),
    }
}

fn readable(fd: &impl AsRawFd) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Echo every byte back.
fn echo(addr: SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    println!("listening {addr}");
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut fds: Vec<libc::pollfd> = std::iter::once(readable(&listener))
            .chain(conns.iter().map(readable))
            .collect();
        poll(&mut fds, Duration::from_secs(60))?;
        let mut closed = Vec::new();
        for (i, conn) in conns.iter_mut().enumerate() {
            if fds[i + 1].revents == 0 {
                continue;
            }
            match conn.read(&mut buf) {
                Ok(0) => closed.push(i),
                Ok(n) => {
                    if conn.write_all(&buf[..n]).is_err() {
                        closed.push(i);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            conns.swap_remove(i);
        }
        while let Ok((conn, _)) = listener.accept() {
            // Lines are short: a blocking write of one never waits long.
            if conn.set_nonblocking(false).is_ok() {
                conns.push(conn);
            }
        }
    }
}

/// How one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Alive,
    Reset,
    Closed,
    Error,
}

impl End {
    fn word(self) -> &'static str {
        match self {
            End::Alive => "alive",
            End::Reset => "reset",
            End::Closed => "closed",
            End::Error => "error",
        }
    }

    fn of(e: &std::io::Error) -> End {
        match e.kind() {
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted => {
                End::Reset
            }
            _ => End::Error,
        }
    }
}

/// One connection of `hold`.
struct Flow {
    conn: TcpStream,
    end: End,
    last_echo: Instant,
    max_silence: Duration,
    after: Duration,
}

impl Flow {
    fn end(&mut self, end: End, started: Instant) {
        self.end = end;
        self.after = started.elapsed();
    }
}

fn hold(addr: SocketAddr, n: usize, every: Duration, stop: PathBuf) -> Result<(), String> {
    let mut flows = Vec::with_capacity(n);
    for i in 0..n {
        let conn = TcpStream::connect(addr).map_err(|e| format!("connection {i}: {e}"))?;
        socket2::SockRef::from(&conn)
            .set_tcp_thin_linear_timeouts(true)
            .map_err(|e| format!("TCP_THIN_LINEAR_TIMEOUTS: {e}"))?;
        conn.set_nonblocking(true).map_err(|e| e.to_string())?;
        flows.push(Flow {
            conn,
            end: End::Alive,
            last_echo: Instant::now(),
            max_silence: Duration::ZERO,
            after: Duration::ZERO,
        });
    }
    println!("opened {n}");
    let started = Instant::now();
    for f in &mut flows {
        f.last_echo = started;
    }
    let mut next_send = started;
    let mut buf = [0u8; 1024];
    let mark = PathBuf::from(format!("{}.mark", stop.display()));
    let mut phase_silence = Duration::ZERO;
    while !Path::new(&stop).exists() {
        if mark.exists() {
            println!("phase max_silence_ms={}", phase_silence.as_millis());
            phase_silence = Duration::ZERO;
            let _ = std::fs::remove_file(&mark);
        }
        if Instant::now() >= next_send {
            for f in flows.iter_mut().filter(|f| f.end == End::Alive) {
                // A line is far smaller than the socket buffer: written whole
                // or not at all (then TCP is already retransmitting).
                match f.conn.write(b"lvsd-flows keeps talking\n") {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => f.end(End::of(&e), started),
                }
            }
            next_send += every;
        }
        let alive: Vec<usize> = (0..flows.len())
            .filter(|&i| flows[i].end == End::Alive)
            .collect();
        let mut fds: Vec<libc::pollfd> = alive.iter().map(|&i| readable(&flows[i].conn)).collect();
        poll(
            &mut fds,
            next_send.saturating_duration_since(Instant::now()),
        )?;
        for (fd, &i) in fds.iter().zip(&alive) {
            if fd.revents == 0 {
                continue;
            }
            let f = &mut flows[i];
            match f.conn.read(&mut buf) {
                Ok(0) => f.end(End::Closed, started),
                Ok(_) => {
                    let now = Instant::now();
                    f.max_silence = f.max_silence.max(now - f.last_echo);
                    phase_silence = phase_silence.max(now - f.last_echo);
                    f.last_echo = now;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => f.end(End::of(&e), started),
            }
        }
    }
    println!("phase max_silence_ms={}", phase_silence.as_millis());
    for (i, f) in flows.iter().enumerate() {
        if f.end != End::Alive {
            println!(
                "broken {i} {} after_ms={}",
                f.end.word(),
                f.after.as_millis()
            );
        }
    }
    let count = |end: End| flows.iter().filter(|f| f.end == end).count();
    let max_silence = flows.iter().map(|f| f.max_silence).max();
    println!(
        "flows conns={n} alive={} reset={} closed={} error={} max_silence_ms={}",
        count(End::Alive),
        count(End::Reset),
        count(End::Closed),
        count(End::Error),
        max_silence.unwrap_or_default().as_millis()
    );
    Ok(())
}
