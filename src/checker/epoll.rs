//! The prober's epoll, owned whole (rustix's safe wrapper): its probe
//! sockets, each registered with the flags its kind needs, and a waker.
//!
//! The prober needs what mio does not offer: `EPOLLONESHOT` for TCP
//! probes (the handshake's end is their only event; a closing socket never
//! wakes the prober) and level-triggered datagram sockets (a kept one is
//! read between attempts, `datagram.rs`). So it owns its epoll: an event's
//! data word is the connection's index (`conns.rs`), and the waker is an
//! eventfd registered under [`WAKE`].

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{epoll, eventfd, EventfdFlags, Timespec};

pub(super) use rustix::event::epoll::EventFlags;

/// The data word of the waker's events.
pub(super) const WAKE: u64 = u64::MAX;

/// An epoll instance.
#[derive(Debug)]
pub(super) struct Epoll {
    fd: OwnedFd,
}

/// What one event says of its file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ready {
    /// The data word it was registered with.
    pub token: u64,
    flags: EventFlags,
}

/// Wakes a thread waiting in [`Epoll::wait`] (from any thread).
#[derive(Debug)]
pub(super) struct Waker {
    fd: OwnedFd,
}

impl Epoll {
    pub(super) fn new() -> io::Result<Epoll> {
        let fd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        Ok(Epoll { fd })
    }

    /// Registers `file` for `flags`, its events carrying `token`.
    pub(super) fn add(&self, file: impl AsFd, token: u64, flags: EventFlags) -> io::Result<()> {
        let data = epoll::EventData::new_u64(token);
        Ok(epoll::add(&self.fd, file, data, flags)?)
    }

    /// Registers `file` again for `flags` (a one-shot registration armed
    /// anew).
    pub(super) fn modify(&self, file: impl AsFd, token: u64, flags: EventFlags) -> io::Result<()> {
        let data = epoll::EventData::new_u64(token);
        Ok(epoll::modify(&self.fd, file, data, flags)?)
    }

    /// Waits up to `timeout` (`None`: for ever; rounded up to the
    /// millisecond, at most a day) for events, as many as `events` has room for; they
    /// replace what `events` held.
    pub(super) fn wait(
        &self,
        events: &mut Vec<epoll::Event>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        events.clear();
        // A day fits epoll_wait's milliseconds (an int) and `Timespec`.
        let day = Duration::from_secs(86_400);
        let timeout = timeout.and_then(|t| Timespec::try_from(t.min(day)).ok());
        epoll::wait(&self.fd, spare_capacity(events), timeout.as_ref())?;
        Ok(())
    }
}

impl Ready {
    pub(super) fn of(event: &epoll::Event) -> Ready {
        Ready {
            token: event.data.u64(),
            flags: event.flags,
        }
    }

    /// Something to read (or a priority message).
    pub(super) fn is_readable(&self) -> bool {
        self.flags.intersects(EventFlags::IN | EventFlags::PRI)
    }

    /// Room to write: a TCP handshake's end.
    pub(super) fn is_writable(&self) -> bool {
        self.flags.contains(EventFlags::OUT)
    }

    /// An error is pending (`SO_ERROR`, or an ICMP error on a UDP socket).
    pub(super) fn is_error(&self) -> bool {
        self.flags.contains(EventFlags::ERR)
    }

    /// The peer closed its side (its FIN came), or the socket hung up.
    pub(super) fn is_read_closed(&self) -> bool {
        self.flags.contains(EventFlags::HUP)
            || self.flags.contains(EventFlags::IN | EventFlags::RDHUP)
    }

    /// Writing can no longer succeed: hung up, or an error.
    pub(super) fn is_write_closed(&self) -> bool {
        self.flags.intersects(EventFlags::HUP | EventFlags::ERR)
    }
}

impl Waker {
    /// A waker of `epoll`: its events carry [`WAKE`].
    pub(super) fn new(epoll: &Epoll) -> io::Result<Waker> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        // Edge-triggered: every write is an event, and the count is never
        // read (but when it is full, see `wake`).
        epoll.add(&fd, WAKE, EventFlags::IN | EventFlags::ET)?;
        Ok(Waker { fd })
    }

    /// Wakes the epoll's waiter (at once, or from its next wait).
    pub(super) fn wake(&self) -> io::Result<()> {
        let one = 1u64.to_ne_bytes();
        match rustix::io::write(&self.fd, &one) {
            Ok(_) => Ok(()),
            // The count is full (after 2^64 - 2 wakes): empty it, and the
            // write goes through.
            Err(rustix::io::Errno::AGAIN) => {
                let mut count = [0u8; 8];
                rustix::io::read(&self.fd, &mut count)?;
                rustix::io::write(&self.fd, &one)?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_ends_a_wait_and_one_shot_sockets_report_once() {
        let epoll = Epoll::new().unwrap();
        let waker = Waker::new(&epoll).unwrap();
        let mut events = Vec::with_capacity(8);
        // Nothing yet: the wait times out.
        epoll
            .wait(&mut events, Some(Duration::from_millis(1)))
            .unwrap();
        assert!(events.is_empty());
        waker.wake().unwrap();
        epoll.wait(&mut events, None).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(Ready::of(&events[0]).token, WAKE);
        // A one-shot registration reports once, then again once armed anew.
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let flags = EventFlags::OUT | EventFlags::ONESHOT;
        epoll.add(&a, 7, flags).unwrap();
        epoll.wait(&mut events, Some(Duration::ZERO)).unwrap();
        let ready: Vec<Ready> = events.iter().map(Ready::of).collect();
        assert_eq!(ready.len(), 1);
        assert!(ready[0].token == 7 && ready[0].is_writable() && !ready[0].is_error());
        epoll.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty());
        epoll.modify(&a, 8, flags).unwrap();
        epoll.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(
            events
                .iter()
                .map(|e| Ready::of(e).token)
                .collect::<Vec<_>>(),
            [8]
        );
    }
}
