//! The prober's open attempts: each socket with the probe it belongs to and
//! the phase it is in, in a slab indexed by the epoll token.
//!
//! A connection's index is its epoll data word, so an event finds its
//! connection with one array load. Indices are reused; a serial, changed
//! with every phase, tells a timer set for an earlier phase or an earlier
//! occupant of the index (`Alarm::Conn` carries both) from a current one.
//!
//! Sockets are registered in the prober's own epoll (`epoll.rs`). TCP
//! sockets are registered `EPOLLONESHOT`: one event, then silent until
//! armed again, so a closing socket never wakes the prober; closing the fd
//! takes it out of epoll. Datagram sockets are level-triggered: a kept one
//! is read between attempts too (`datagram.rs`).

use std::time::{Duration, Instant};

use socket2::Socket;

use super::datagram::Datagram;
use super::epoll::{Epoll, EventFlags};
use super::tcp;
use crate::config::CloseMode;

/// The probe an attempt belongs to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owner {
    pub id: u32,
    pub gen: u32,
    /// When the probe was due.
    pub due: Instant,
    /// When the attempt started.
    pub started: Instant,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Phase {
    /// Handshake under way, bounded by `limit` (connect_timeout).
    Connecting { limit: Duration, close: CloseMode },
    /// A `UDP_CHECK`, `PING_CHECK` or `DNS_CHECK` datagram is sent;
    /// waiting for what comes back, bounded by connect_timeout (see
    /// `datagram.rs`).
    Datagram(Datagram),
    /// A datagram probe's socket, kept between attempts after `Datagram`
    /// (its last attempt) passed; in `Driver::kept` under its probe.
    Kept(Datagram),
    /// An `HTTP_GET` attempt: handshake, request, answer (its machine is
    /// in `driver/web.rs`'s `Exchanges`), bounded by connect_timeout.
    Web,
    /// Our FIN is sent; reading to the backend's FIN until `deadline`.
    Closing { deadline: Instant },
}

/// One open attempt.
#[derive(Debug)]
pub(super) struct Conn {
    pub socket: Socket,
    /// Changes with every phase, so an old timer is recognised.
    pub serial: u32,
    pub owner: Owner,
    pub phase: Phase,
}

/// What a TCP probe socket waits for: its handshake's end only: writable
/// (connected), an error (refused…), or readable / the backend's FIN if they
/// come with it.
pub(super) const HANDSHAKE_EVENTS: EventFlags = EventFlags::IN
    .union(EventFlags::OUT)
    .union(EventFlags::RDHUP)
    .union(EventFlags::ONESHOT)
    .union(EventFlags::ET);

/// What an `HTTP_GET` probe socket waits for: the handshake's end, room to
/// send, the answer and the server's end, each reported once as it comes
/// (edge-triggered): registered once for the whole exchange, never armed
/// again.
pub(super) const WEB_EVENTS: EventFlags = EventFlags::IN
    .union(EventFlags::OUT)
    .union(EventFlags::RDHUP)
    .union(EventFlags::ET);

/// What a datagram probe socket waits for: something to read, or an error
/// (`EPOLLERR` is always reported: an ICMP error on a UDP socket).
/// Level-triggered and for good: a kept socket is read between attempts
/// too (see `datagram.rs`).
pub(super) const READ_EVENTS: EventFlags = EventFlags::IN;

/// The open attempts, by index.
#[derive(Debug, Default)]
pub(super) struct Conns {
    slots: Vec<Option<Conn>>,
    /// Indices free for reuse.
    free: Vec<u32>,
    serial: u32,
}

impl Conns {
    /// Registers `socket` with `epoll` for `events`, its index as the data
    /// word, and keeps it; returns its index and serial.
    pub(super) fn open(
        &mut self,
        epoll: &Epoll,
        socket: Socket,
        owner: Owner,
        phase: Phase,
        events: EventFlags,
    ) -> std::io::Result<(u32, u32)> {
        let idx = match self.free.pop() {
            Some(idx) => idx,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        if let Err(e) = epoll.add(&socket, u64::from(idx), events) {
            self.free.push(idx);
            return Err(e);
        }
        let serial = self.next_serial();
        self.slots[idx as usize] = Some(Conn {
            socket,
            serial,
            owner,
            phase,
        });
        Ok((idx, serial))
    }

    pub(super) fn get(&self, idx: u32) -> Option<&Conn> {
        self.slots.get(idx as usize).and_then(Option::as_ref)
    }

    /// Connection `idx` if it is still in the phase of `serial`.
    pub(super) fn get_if(&self, idx: u32, serial: u32) -> Option<&Conn> {
        self.get(idx).filter(|conn| conn.serial == serial)
    }

    /// Moves connection `idx` to `phase`, with a new serial.
    pub(super) fn enter(&mut self, idx: u32, phase: Phase) {
        let serial = self.next_serial();
        if let Some(Some(conn)) = self.slots.get_mut(idx as usize) {
            conn.phase = phase;
            conn.serial = serial;
        }
    }

    /// Moves connection `idx` to `phase` for another attempt, of `owner`
    /// (a kept datagram socket); returns its new serial.
    pub(super) fn enter_as(&mut self, idx: u32, phase: Phase, owner: Owner) -> u32 {
        let serial = self.next_serial();
        if let Some(Some(conn)) = self.slots.get_mut(idx as usize) {
            (conn.phase, conn.serial, conn.owner) = (phase, serial, owner);
        }
        serial
    }

    /// Closes connection `idx` (closing the fd also takes it out of epoll).
    pub(super) fn free(&mut self, idx: u32) {
        if let Some(entry) = self.slots.get_mut(idx as usize) {
            if entry.take().is_some() {
                self.free.push(idx);
            }
        }
    }

    /// At stop: read what is there (unread data would make close() reset),
    /// then close every socket.
    pub(super) fn close_all(&mut self) {
        for conn in self.slots.iter_mut().filter_map(Option::take) {
            tcp::drain(&conn.socket);
        }
    }

    fn next_serial(&mut self) -> u32 {
        self.serial = self.serial.wrapping_add(1);
        self.serial
    }
}
