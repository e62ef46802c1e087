//! `TCP_CHECK`: a TCP handshake, and a close that leaves no RST behind.
//!
//! The probe builds its socket with socket2 so that every option keepalived
//! offers can be set before `connect()`: `bindto`/`bind_port` (source address
//! and port), `bind_if` (`SO_BINDTODEVICE`) and `fwmark` (`SO_MARK`). The
//! non-blocking connect is then watched by the engine's prober thread
//! (`driver.rs`, one epoll for every probe), which is woken when the socket
//! becomes writable: the handshake finished, or failed (the error is read
//! with [`handshake_outcome`], `SO_ERROR`). The prober bounds the whole thing
//! with `connect_timeout`. `HTTP_GET` starts its socket the same way
//! ([`start`]), and so does `SSL_GET`; `SMTP_CHECK` uses it through tokio
//! ([`connect`]).
//!
//! ## Closing without a reset
//!
//! A plain `close()` right after the handshake usually sends a FIN, but not
//! always: if the backend already sent something (a banner: SMTP, SSH, FTP…)
//! that was never read, or sends it just after our `close()`, the kernel
//! answers with an RST, and backends log it as an error. So the graceful close
//! is done in two steps (see [`begin_close`] and [`drain`]):
//!
//! 1. `shutdown(SHUT_WR)` sends our FIN at once; the socket can still receive.
//!    (If the backend's FIN is already in, reading up to it and `close()`
//!    does the same with one system call less.)
//! 2. Whatever arrives is read and discarded until the backend's own FIN (end
//!    of file), or until a short budget runs out; only then is the socket
//!    closed. The socket never gets `SO_LINGER`, so `close()` never blocks.
//!
//! With [`CloseMode::Reset`] the socket gets `SO_LINGER` with a zero timeout
//! and `close()` sends an RST straight away, as keepalived 1.x did.
//!
//! ## Source ports
//!
//! With `bindto` alone the source port is picked at `connect()` time
//! (`IP_BIND_ADDRESS_NO_PORT`), so probes do not use up ports at `bind()`.
//! With a fixed `bind_port`, every probe to a target uses the same 4-tuple,
//! still in TIME_WAIT from the previous probe (lvsd closes first). Linux lets
//! a `connect()` from an explicitly bound port take over such a TIME_WAIT when
//! TCP timestamps are on (the default); `SO_REUSEADDR` lets the `bind()` pass.
//! `tests/checker/verdicts.rs` probes three times in a row from one port.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::config::{Binding, CheckCommon, CloseMode};

/// Why a TCP probe failed: its `Display` is the reason logged and reported.
#[derive(Debug, thiserror::Error)]
pub enum TcpProbeError {
    /// The socket could not be created or configured (`bindto`, `bind_if`,
    /// `fwmark`…): a local problem, reported as a failure.
    #[error("cannot set up the probe socket ({what}): {source}")]
    Setup {
        /// The step that failed.
        what: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// The handshake failed: refused, unreachable…
    #[error("connection failed: {0}")]
    Connect(io::Error),
}

impl TcpProbeError {
    /// Whether this machine, not the target, lacked what the attempt needs:
    /// open files (`EMFILE`, `ENFILE`) or memory (`ENOBUFS`, `ENOMEM`) for
    /// the socket. Such an attempt says nothing of the target's health.
    pub fn is_local_shortage(&self) -> bool {
        matches!(self, TcpProbeError::Setup { source, .. } if is_shortage(source))
    }
}

/// Whether `error` says this machine lacks open files or memory.
fn is_shortage(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Why a datagram probe's attempt (`UDP_CHECK`, `DNS_CHECK`,
/// `PING_CHECK`) did not start: its `Display` is the reason reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotStarted {
    reason: String,
    shortage: bool,
}

impl NotStarted {
    /// Failed with `error`, said as `reason`: a local shortage if `error`
    /// says so.
    pub fn new(reason: String, error: &io::Error) -> NotStarted {
        NotStarted {
            reason,
            shortage: is_shortage(error),
        }
    }

    /// Setting up its socket failed at `what` with `error`.
    pub fn setup(what: &str, error: &io::Error) -> NotStarted {
        let reason = format!("cannot set up the probe socket ({what}): {error}");
        NotStarted::new(reason, error)
    }

    /// Whether this machine, not the target, lacked open files or memory
    /// for the socket (see [`TcpProbeError::is_local_shortage`]): the
    /// prober then puts the probe off, without a verdict.
    pub fn is_local_shortage(&self) -> bool {
        self.shortage
    }
}

impl From<String> for NotStarted {
    /// A failure that is the target's or the config's (connect, send…).
    fn from(reason: String) -> NotStarted {
        NotStarted {
            reason,
            shortage: false,
        }
    }
}

impl From<TcpProbeError> for NotStarted {
    fn from(error: TcpProbeError) -> NotStarted {
        NotStarted {
            shortage: error.is_local_shortage(),
            reason: error.to_string(),
        }
    }
}

impl std::fmt::Display for NotStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A connected probe socket, waiting to be closed.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
}

/// Starts a TCP handshake to the check's target and waits for it to finish.
///
/// No timeout here: the caller wraps this in `connect_timeout` (dropping the
/// future closes the half-open socket, which sends nothing).
pub async fn connect(common: &CheckCommon) -> Result<Connection, TcpProbeError> {
    let target = SocketAddr::new(common.connect_ip, common.connect_port);
    let socket = start(target, common.binding.as_deref())?;
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket)).map_err(|source| {
        TcpProbeError::Setup {
            what: "register with the runtime",
            source,
        }
    })?;
    wait_connected(&stream).await?;
    Ok(Connection { stream })
}

/// Creates the non-blocking socket with the check's source options
/// (`binding`) and starts the handshake to `target`: the socket is returned
/// while the handshake runs (`EINPROGRESS`); wait for it to turn writable,
/// then ask [`handshake_outcome`].
pub fn start(target: SocketAddr, binding: Option<&Binding>) -> Result<Socket, TcpProbeError> {
    let socket = prepare_socket(binding, target, Type::STREAM, Protocol::TCP)?;
    match socket.connect(&target.into()) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(e) => Err(TcpProbeError::Connect(e)),
    }
}

/// How a started handshake ended, once its socket reported writable or an
/// error: `SO_ERROR` names the failure (refused, unreachable…).
pub fn handshake_outcome(socket: &Socket) -> Result<(), TcpProbeError> {
    match socket.take_error() {
        Ok(None) => Ok(()),
        Ok(Some(e)) | Err(e) => Err(TcpProbeError::Connect(e)),
    }
}

/// First step of closing a connected probe socket the way `mode` says;
/// `peer_closed` tells whether the backend's FIN was already seen
/// (`EPOLLRDHUP`). Returns true when the socket can be closed now, false
/// when it must wait for the backend's FIN: call [`drain`] when it is
/// readable, and close it anyway when the budget runs out.
///
/// Graceful: FIN now (`shutdown(SHUT_WR)`), then read and discard until the
/// backend's FIN. A backend that closes when it reads end of file (nearly all
/// do) thus never sees an RST, banner or not. One that keeps the connection
/// open past the budget and sends data after it will get an RST for that
/// data: the kernel resets on data arriving at a closed socket, and waiting
/// forever is not an option. The socket never gets `SO_LINGER`, so `close()`
/// never blocks.
///
/// Reset: `SO_LINGER` 0, so `close()` sends an RST at once.
pub fn begin_close(socket: &Socket, mode: CloseMode, peer_closed: bool) -> bool {
    let sock = SockRef::from(socket);
    match mode {
        CloseMode::Reset => {
            // If this fails the close is merely graceful; nothing to report.
            let _ = sock.set_linger(Some(Duration::ZERO));
            true
        }
        // The backend's FIN is already in and reading up to it drained
        // everything: close() now sends our FIN from CLOSE_WAIT, never an
        // RST, and the shutdown() is not needed.
        CloseMode::Graceful if peer_closed && drained_now(&sock) => true,
        // Not read at once: the backend's FIN has rarely come back by the
        // end of our shutdown() (the backend must see ours, or its process
        // run, first), so the read would nearly always say "not yet": a
        // system call for nothing on most probes. The prober's next sweep
        // reads it.
        CloseMode::Graceful => sock.shutdown(Shutdown::Write).is_err(),
    }
}

/// Reads and discards what has arrived on a closing socket: true when that
/// reached the backend's end of file (or an error), so it can be closed.
pub fn drain(socket: &Socket) -> bool {
    drained_now(&SockRef::from(socket))
}

/// Closes a connected stream of a check that talked over it (`SMTP_CHECK`)
/// the way `mode` says, as the prober closes `TCP_CHECK`'s sockets:
/// graceful is our FIN at once (`shutdown(SHUT_WR)`), then whatever arrives
/// is read and discarded until the backend's FIN or for at most `budget`;
/// reset is `SO_LINGER` 0 and an RST. Meant to be spawned: the verdict
/// does not wait for it.
pub async fn close_stream(mut stream: TcpStream, mode: CloseMode, budget: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if mode == CloseMode::Reset {
        // If this fails the close is merely graceful; nothing to report.
        let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 2048];
    let to_eof = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(budget, to_eof).await;
}

/// Creates a non-blocking socket of type `ty` (a TCP stream, or the UDP
/// socket of `DNS_CHECK`) with the check's source options (`binding`).
pub(super) fn prepare_socket(
    binding: Option<&Binding>,
    target: SocketAddr,
    ty: Type,
    protocol: Protocol,
) -> Result<Socket, TcpProbeError> {
    let setup = |what| move |source| TcpProbeError::Setup { what, source };
    let domain = Domain::for_address(target);
    let socket =
        Socket::new(domain, ty.nonblocking().cloexec(), Some(protocol)).map_err(setup("socket"))?;
    let Some(binding) = binding else {
        return Ok(socket);
    };
    if let Some(mark) = binding.fwmark {
        socket.set_mark(mark).map_err(setup("fwmark (SO_MARK)"))?;
    }
    if let Some(device) = &binding.bind_if {
        socket
            .bind_device(Some(device.as_bytes()))
            .map_err(setup("bind_if (SO_BINDTODEVICE)"))?;
    }
    if binding.bindto.is_some() || binding.bind_port.is_some() {
        let port = binding.bind_port.unwrap_or(0);
        if port == 0 && ty == Type::STREAM {
            // Choose the source port at connect() time, from the full 4-tuple
            // space, instead of reserving one port per probe at bind() time.
            set_bind_address_no_port(&socket).map_err(setup("IP_BIND_ADDRESS_NO_PORT"))?;
        } else {
            // A fixed source port is often still in TIME_WAIT from the previous probe.
            socket
                .set_reuse_address(true)
                .map_err(setup("SO_REUSEADDR"))?;
        }
        let unspecified = match target {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let source = SocketAddr::new(binding.bindto.unwrap_or(unspecified), port);
        socket
            .bind(&source.into())
            .map_err(setup("bindto/bind_port"))?;
    }
    Ok(socket)
}

/// A non-blocking UDP socket for a check's target (`UDP_CHECK`,
/// `DNS_CHECK`), with its source options; not connected yet.
pub(super) fn prepare_udp(common: &CheckCommon) -> Result<(Socket, SocketAddr), TcpProbeError> {
    let target = SocketAddr::new(common.connect_ip, common.connect_port);
    let binding = common.binding.as_deref();
    let socket = prepare_socket(binding, target, Type::DGRAM, Protocol::UDP)?;
    Ok((socket, target))
}

/// `IP_BIND_ADDRESS_NO_PORT`: the source port is picked at `connect()`.
fn set_bind_address_no_port(socket: &Socket) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
    Ok(setsockopt(socket, IpBindAddressNoPort, &true)?)
}

/// Waits until the handshake is over: the socket turns writable (connected)
/// or reports an error (refused, unreachable), which `SO_ERROR` then names.
async fn wait_connected(stream: &TcpStream) -> Result<(), TcpProbeError> {
    loop {
        stream.writable().await.map_err(TcpProbeError::Connect)?;
        let checked = stream.try_io(Interest::WRITABLE, || {
            match SockRef::from(stream).take_error()? {
                Some(e) => Ok(Err(e)),
                None => Ok(Ok(())),
            }
        });
        match checked {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => return Err(TcpProbeError::Connect(e)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(TcpProbeError::Connect(e)),
        }
    }
}

impl Connection {
    /// The connected stream, for checks that talk over it (`HTTP_GET`).
    /// Whoever takes it closes it.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}

/// Reads and discards what is already there, without waiting: true if that
/// reached end of file (or an error), so the socket can be closed now.
fn drained_now(sock: &SockRef<'_>) -> bool {
    !matches!(read_until_blocked(sock), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Reads and discards until end of file (`Ok`), or an error: `WouldBlock`
/// when nothing more is there yet. The buffer lives on the stack: a
/// closing socket holds nothing but its fd.
fn read_until_blocked(sock: &SockRef<'_>) -> io::Result<()> {
    let mut sink = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    loop {
        match sock.recv(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod shortage_tests {
    use super::*;

    #[test]
    fn only_a_setup_failure_for_want_of_files_or_memory_is_a_local_shortage() {
        let setup = |errno| TcpProbeError::Setup {
            what: "socket",
            source: io::Error::from_raw_os_error(errno),
        };
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(setup(errno).is_local_shortage(), "{errno}");
        }
        assert!(!setup(libc::EADDRNOTAVAIL).is_local_shortage());
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert!(!TcpProbeError::Connect(refused).is_local_shortage());
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(!TcpProbeError::Connect(emfile).is_local_shortage());
    }
}
