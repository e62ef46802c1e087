//! systemd's notify protocol: `READY=1`, `RELOADING=1`, `STOPPING=1` sent as
//! datagrams to `$NOTIFY_SOCKET` when it is set (a `Type=notify` unit), with
//! a `STATUS=` line `systemctl status` shows (what runs, or why a reload
//! was refused).

use std::os::unix::net::UnixDatagram;

/// A state change to tell the service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Start-up finished (or a reload did).
    Ready,
    /// A reload began.
    Reloading,
    /// Stopping.
    Stopping,
}

/// Send `status` if `NOTIFY_SOCKET` is set; errors are logged, never fatal.
pub fn notify(status: Status) {
    send_if_wanted(message(status));
}

/// Send `status` with `text` as the unit's `STATUS=` (on one line).
pub fn notify_with_status(status: Status, text: &str) {
    let mut message = message(status);
    message.push_str("\nSTATUS=");
    message.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
    send_if_wanted(message);
}

fn message(status: Status) -> String {
    match status {
        Status::Ready => "READY=1".to_string(),
        Status::Reloading => format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()),
        Status::Stopping => "STOPPING=1".to_string(),
    }
}

fn send_if_wanted(message: String) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&path.to_string_lossy(), &message) {
        tracing::warn!(error = %e, "could not notify the service manager");
    }
}

fn send(path: &str, message: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        socket.send_to_addr(message.as_bytes(), &addr)?;
    } else {
        socket.send_to(message.as_bytes(), path)?;
    }
    Ok(())
}

fn monotonic_usec() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
