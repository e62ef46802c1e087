//! Where the log goes, as keepalived sends it: to syslog (and so to
//! journald, which listens on `/dev/log`) unless told otherwise, and to the
//! console (stderr) with `-l`.
//!
//! Each log event becomes one syslog datagram, `<PRI>lvsd[PID]: message`,
//! whose priority carries the facility (`-S`, default `daemon`) and the
//! level (error, warning, info, debug). When `/dev/log` cannot be reached
//! (a container without syslog) the log goes to the console instead, so it
//! is never lost without a word.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Where to log.
#[derive(Debug, Clone, Copy)]
pub struct LogTo {
    /// To stderr.
    pub console: bool,
    /// To syslog, with this facility code (3 = daemon).
    pub syslog: Option<u8>,
    /// Debug level rather than info (`-D`), unless `LVSD_LOG` says otherwise.
    pub detail: bool,
}

/// The socket syslog and journald read.
const DEV_LOG: &str = "/dev/log";

/// Install the global subscriber. Returns whether syslog is in use (it is
/// not when asked for but `/dev/log` cannot be reached: then the console
/// takes its place).
pub fn init(to: LogTo) -> bool {
    let level = if to.detail { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("LVSD_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let syslog = to.syslog.and_then(|facility| {
        let socket = UnixDatagram::unbound().ok()?;
        socket.connect(DEV_LOG).ok()?;
        Some(Syslog {
            socket,
            facility,
            pid: std::process::id(),
        })
    });
    let console = to.console || (to.syslog.is_some() && syslog.is_none());
    let in_use = syslog.is_some();
    let syslog_layer = syslog.map(|s| {
        tracing_subscriber::fmt::layer()
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_ansi(false)
            .with_writer(s)
    });
    let console_layer = console.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(console_layer)
        .with(syslog_layer)
        .init();
    in_use
}

/// A connection to `/dev/log`.
struct Syslog {
    socket: UnixDatagram,
    facility: u8,
    pid: u32,
}

/// syslog's severity for a tracing level.
fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogEvent<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.event(6)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        self.event(severity(meta.level()))
    }
}

impl Syslog {
    fn event(&self, severity: u8) -> SyslogEvent<'_> {
        let mut line = Vec::with_capacity(256);
        let _ = write!(
            line,
            "<{}>lvsd[{}]: ",
            self.facility * 8 + severity,
            self.pid
        );
        SyslogEvent {
            syslog: self,
            header: line.len(),
            line,
        }
    }
}

/// One event being formatted; sent as one datagram when dropped.
pub struct SyslogEvent<'a> {
    syslog: &'a Syslog,
    header: usize,
    line: Vec<u8>,
}

impl Write for SyslogEvent<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogEvent<'_> {
    fn drop(&mut self) {
        while self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        if self.line.len() > self.header {
            // A full or gone syslog loses the line; it must not stop lvsd.
            let _ = self.syslog.socket.send(&self.line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_datagram_with_facility_and_severity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let socket = UnixDatagram::unbound().unwrap();
        socket.connect(&path).unwrap();
        let syslog = Syslog {
            socket,
            facility: 16 + 2,
            pid: 42,
        };
        {
            let mut event = syslog.event(severity(&Level::WARN));
            writeln!(event, "reload refused").unwrap();
        }
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        // local2 (18) * 8 + warning (4)
        assert_eq!(&buf[..n], b"<148>lvsd[42]: reload refused");
    }
}
