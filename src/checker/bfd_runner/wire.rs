//! The BFD thread's sockets: each family's receiving socket (datagrams
//! read a batch at a time, checked, and handed to their session) and
//! sending socket (packets queued, then sent a batch at a time).
//! A receiving socket is watched by epoll or polled, as its `pace` says.

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::Interest;

use super::pace::Pace;
use super::{Runner, RX4, RX6};
use crate::bfd::packet::{Control, LEN};
use crate::bfd::session::Received;
use crate::bfd::socket;
use crate::config::BfdInstance;

impl Runner {
    /// Opens the receiving socket of a family on first use. A failure is
    /// not kept: the next session of that family (a reload) tries again.
    pub(super) fn listen(&mut self, v6: bool) -> Result<(), String> {
        let (rx, token) = match v6 {
            false => (&mut self.rx4, RX4),
            true => (&mut self.rx6, RX6),
        };
        if rx.is_some() {
            return Ok(());
        }
        let opened = socket::listen(v6)
            .map_err(|e| format!("cannot listen on UDP port {}: {e}", socket::CONTROL_PORT))
            .and_then(|s| {
                self.poll
                    .registry()
                    .register(
                        &mut mio::unix::SourceFd(&s.as_raw_fd()),
                        token,
                        Interest::READABLE,
                    )
                    .map_err(|e| format!("cannot poll the BFD socket: {e}"))?;
                Ok(s)
            });
        match opened {
            Ok(s) => {
                *rx = Some(s);
                self.pace[usize::from(v6)] = Pace::new(Instant::now());
                Ok(())
            }
            Err(why) => {
                tracing::error!(error = %why, "BFD");
                Err(why)
            }
        }
    }

    /// Has epoll watch a receiving socket again (`on`), or no longer (it
    /// is polled: `pace`).
    fn watch(&mut self, v6: bool, on: bool) {
        let (Some(rx), token) = (if v6 {
            (&self.rx6, RX6)
        } else {
            (&self.rx4, RX4)
        }) else {
            return;
        };
        let mut fd = mio::unix::SourceFd(&rx.as_raw_fd());
        let done = match on {
            true => self
                .poll
                .registry()
                .register(&mut fd, token, Interest::READABLE),
            false => self.poll.registry().deregister(&mut fd),
        };
        match done {
            Ok(()) => tracing::debug!(v6, polled = !on, "BFD: receiving socket's pace"),
            Err(e) => tracing::error!(error = %e, "BFD: cannot change how a socket is read"),
        }
    }

    /// Reads every datagram waiting on a receiving socket, up to
    /// `socket::BATCH` a system call; each is taken as received when the
    /// kernel says it arrived (a polled socket is read up to 2 ms later).
    pub(super) fn read(&mut self, v6: bool, batch: &mut socket::Batch) {
        let since = self.pace[usize::from(v6)].begin(Instant::now());
        let mut total = 0;
        loop {
            let rx = match (v6, &self.rx4, &self.rx6) {
                (false, Some(s), _) | (true, _, Some(s)) => s,
                _ => return,
            };
            let n = match socket::receive_batch(rx, batch) {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(error = %e, "BFD: receive failed");
                    return;
                }
            };
            let clocks = socket::Clocks::read(since);
            total += n;
            let mut oldest = clocks.now;
            for i in 0..n {
                let (bytes, d) = batch.get(i);
                let at = socket::arrival(d.stamp, clocks);
                oldest = oldest.min(at);
                self.datagram(bytes, d.from, d.ttl, at, clocks.now);
            }
            let waited = clocks.now.saturating_duration_since(oldest);
            if waited > super::LATE {
                tracing::warn!(
                    waited_ms = super::ms(waited),
                    datagrams = n,
                    "BFD datagrams read late: the oldest waited waited_ms in the socket"
                );
            }
            if n < socket::BATCH {
                if let Some(polled) = self.pace[usize::from(v6)].read(total, clocks.now) {
                    self.watch(v6, !polled);
                }
                return;
            }
        }
    }

    /// One received datagram, arrived `at`: dropped and counted, or given
    /// to its session.
    pub(super) fn datagram(
        &mut self,
        bytes: &[u8],
        from: IpAddr,
        ttl: Option<u8>,
        at: Instant,
        now: Instant,
    ) {
        let p = match Control::parse(bytes) {
            Ok(p) => p,
            Err(why) => {
                self.drops.malformed[why.index()] += 1;
                tracing::trace!(%from, reason = why.name(), "BFD: malformed packet dropped");
                return;
            }
        };
        let slot = match p.your_disc {
            0 => self.by_neighbor.get(&from),
            d => self.by_disc.get(&d),
        };
        let Some(&slot) = slot else {
            self.drops.unknown_session += 1;
            return;
        };
        let Some(entry) = self.entry(slot) else {
            return;
        };
        if entry.instance.neighbor != from {
            self.drops.unknown_session += 1;
            return;
        }
        if let Some(min) = entry.instance.min_received_ttl() {
            if ttl.is_none_or(|t| t < min) {
                self.drops.wrong_ttl += 1;
                return;
            }
        }
        entry.received += 1;
        tracing::trace!(bfd = %entry.instance.name, state = %p.state, poll = p.poll, fin = p.fin, tx = p.desired_min_tx, rx = p.required_min_rx, "BFD: received");
        if let Received::Accepted(Some(change)) = entry.session.receive(&p, at) {
            tracing::debug!(bfd = %entry.instance.name, from = %change.from, to = %change.to, diag = ?change.diag, peer_diag = ?p.diag, "BFD state");
        }
        self.service(slot, now);
    }

    /// Opens the sending socket of a family on first use (a failure is
    /// not kept, as for `listen`).
    pub(super) fn sender(&mut self, v6: bool) -> Result<(), String> {
        let tx = if v6 { &mut self.tx6 } else { &mut self.tx4 };
        if tx.is_some() {
            return Ok(());
        }
        let s = socket::shared_sender(v6).map_err(|e| {
            let why = format!("cannot open a BFD sending socket: {e}");
            tracing::error!(error = %why, "BFD");
            why
        })?;
        *tx = Some(s);
        Ok(())
    }

    /// Queues a packet of `instance`'s session.
    pub(super) fn queue(&mut self, instance: &BfdInstance, p: &Control) {
        self.queue_to(instance.neighbor, instance.source, instance.ttl, p);
    }

    /// Queues a packet to `to`, sending the batch first if it is full.
    pub(super) fn queue_to(&mut self, to: IpAddr, from: Option<IpAddr>, ttl: u8, p: &Control) {
        let mut bytes = [0u8; LEN];
        p.write(&mut bytes);
        let (out, tx) = match to {
            IpAddr::V4(_) => (&mut self.out4, &self.tx4),
            IpAddr::V6(_) => (&mut self.out6, &self.tx6),
        };
        let mut refused = 0;
        if out.is_full() {
            if let Some(tx) = tx {
                refused = out.flush(tx);
            }
        }
        out.push(&bytes, to, from, ttl);
        self.refused(refused);
    }

    /// Sends every queued packet.
    pub(super) fn flush(&mut self) {
        let mut refused = 0;
        for (out, tx) in [(&mut self.out4, &self.tx4), (&mut self.out6, &self.tx6)] {
            if let (false, Some(tx)) = (out.is_empty(), tx) {
                refused += out.flush(tx);
            }
        }
        self.refused(refused);
    }

    /// Counts (and tells of) packets the kernel would not send: each one
    /// lost is a gap its peer sees.
    fn refused(&mut self, refused: usize) {
        if refused > 0 {
            self.drops.send_refused += refused as u64;
            tracing::warn!(
                refused,
                since_start = self.drops.send_refused,
                "BFD packets the kernel refused to send (lost)"
            );
        }
    }
}
