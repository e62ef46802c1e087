//! `HTTP_GET` and `SSL_GET` attempts on the prober thread: the [`Exchange`]
//! of `http.rs` (with its TLS layer for `SSL_GET`) driven from the
//! prober's epoll, as `TCP_CHECK`'s handshake is.
//!
//! An attempt's socket is registered once, edge-triggered, for reading and
//! writing ([`WEB_EVENTS`]): the handshake's end, room to send and the
//! answer's bytes each wake the prober once, and no `epoll_ctl` is needed
//! between them. A passing probe typically costs two wake-ups (the
//! handshake's end, then the answer with the server's FIN), on this thread
//! alone: handing the attempt to tokio cost some five and a half, across
//! two threads (guest profile, `bench/http.sh`). A read low-water mark
//! (`SO_RCVLOWAT`), to be woken once for the answer and the FIN, was tried
//! and measured no different (0.905 vs 0.902 of keepalived's CPU, guest,
//! same rounds): not kept.
//!
//! The attempt's machine and its buffers live in [`Exchanges`], by
//! connection index, and are reused by the next attempt on that index; the
//! answer is read into one buffer shared by every attempt (the prober reads
//! one socket at a time).

use std::sync::Arc;

use super::Driver;
use crate::checker::conns::{Owner, Phase, WEB_EVENTS};
use crate::checker::http::{self, Exchange, Outcome, Step, DRAIN_BUDGET};
use crate::checker::probe;
use crate::checker::probe_table::ProbeTable;
use crate::checker::tls::TlsError;
use crate::checker::ProbeSpec;
use crate::config::{Check, CloseMode, HttpCheck};

/// How many answer bytes one read takes at most.
const READ_BUF: usize = 16 * 1024;

/// The `HTTP_GET` exchanges under way, by connection index.
#[derive(Debug)]
pub(in crate::checker) struct Exchanges {
    /// The exchange last run on each connection index, with its url's
    /// number; current while that connection is in [`Phase::Web`].
    slots: Vec<Option<(usize, Exchange)>>,
    /// Where answers are read.
    buf: Box<[u8]>,
}

impl Default for Exchanges {
    fn default() -> Self {
        Exchanges {
            slots: Vec::new(),
            buf: vec![0; READ_BUF].into_boxed_slice(),
        }
    }
}

impl Exchanges {
    /// Readies connection `idx`'s exchange for url number `url` of `check`
    /// (fails when an `SSL_GET`'s TLS connection cannot be set up).
    fn start(
        &mut self,
        idx: u32,
        check: &HttpCheck,
        url: usize,
        u: &crate::config::Url,
    ) -> Result<(), TlsError> {
        let idx = idx as usize;
        if self.slots.len() <= idx {
            self.slots.resize_with(idx + 1, || None);
        }
        match &mut self.slots[idx] {
            Some((number, exchange)) => {
                *number = url;
                exchange.restart(check, u)
            }
            empty => {
                *empty = Some((url, Exchange::new(check, u)?));
                Ok(())
            }
        }
    }

    fn get(&mut self, idx: u32) -> Option<&mut (usize, Exchange)> {
        self.slots.get_mut(idx as usize).and_then(Option::as_mut)
    }
}

impl Driver {
    /// Starts an `HTTP_GET` attempt of url number `url`: the socket's
    /// handshake, then the exchange, driven by [`Driver::on_web_io`]; the
    /// connect_timeout timer bounds the whole.
    pub(super) fn start_http(
        &mut self,
        table: &mut ProbeTable,
        owner: Owner,
        check: &HttpCheck,
        url: usize,
    ) {
        let Some(u) = http::url_of(check, url) else {
            let result = probe::result(true, "no url to check", owner.started);
            self.complete(table, owner, result);
            return;
        };
        let common = &check.common;
        let socket = match http::start(check) {
            Ok(socket) => socket,
            Err(e) if e.is_local_shortage() => {
                return self.postpone(owner, common.delay_loop.duration(), &e)
            }
            Err(e) => {
                let result = probe::result(false, e.to_string(), owner.started);
                self.complete(table, owner, result);
                return;
            }
        };
        let limit = common.connect_timeout.duration();
        let attempt = (socket, Phase::Web, WEB_EVENTS);
        if let Some(idx) = self.watch(table, owner, attempt, limit) {
            if let Err(e) = self.exchanges.start(idx, check, url, u) {
                self.conns.free(idx);
                let reason = format!("{}: {e}", u.path);
                self.complete(table, owner, probe::result(false, reason, owner.started));
            }
        }
    }

    /// Connection `idx`, in [`Phase::Web`], had an event (`readable`: it
    /// can be read): the exchange goes as far as it can.
    pub(super) fn on_web_io(&mut self, table: &mut ProbeTable, idx: u32, readable: bool) {
        let Some(owner) = self.conns.get(idx).map(|conn| conn.owner) else {
            return;
        };
        let Some((spec, url)) = self.web_probe(table, idx, owner) else {
            return;
        };
        let Check::Http(check) = &*spec.check else {
            return;
        };
        let (Some(u), Some(conn)) = (http::url_of(check, url), self.conns.get(idx)) else {
            return;
        };
        let Exchanges { slots, buf } = &mut self.exchanges;
        let Some(Some((_, exchange))) = slots.get_mut(idx as usize) else {
            return;
        };
        let step = exchange.advance(&conn.socket, buf, u, readable);
        if let Step::Done(outcome) = step {
            self.end_web(table, idx, owner, check, url, &outcome);
        }
    }

    /// Connection `idx`'s connect_timeout ran out in [`Phase::Web`].
    pub(super) fn on_web_timeout(&mut self, table: &mut ProbeTable, idx: u32, owner: Owner) {
        let Some((spec, url)) = self.web_probe(table, idx, owner) else {
            return;
        };
        let Check::Http(check) = &*spec.check else {
            return;
        };
        let outcome = match self.exchanges.get(idx) {
            Some((_, exchange)) => exchange.late(),
            None => Outcome::Late { connected: false },
        };
        self.end_web(table, idx, owner, check, url, &outcome);
    }

    /// The probe (an `HTTP_GET`) and url number of connection `idx`'s
    /// exchange; `None` when the probe is gone (a reload removed it): the
    /// connection is then closed politely, without a verdict.
    fn web_probe(
        &mut self,
        table: &mut ProbeTable,
        idx: u32,
        owner: Owner,
    ) -> Option<(Arc<ProbeSpec>, usize)> {
        let url = self.exchanges.get(idx).map(|(url, _)| *url);
        let spec = table
            .get_mut(owner.id, owner.gen)
            .map(|slot| Arc::clone(&slot.spec));
        match (spec, url) {
            (Some(spec), Some(url)) if matches!(&*spec.check, Check::Http(_)) => Some((spec, url)),
            _ => {
                self.close(idx, CloseMode::Graceful, false, DRAIN_BUDGET);
                None
            }
        }
    }

    /// Ends connection `idx`'s exchange with `outcome`: close_notify for
    /// `SSL_GET`, then its socket closed at once if the answer was read to
    /// the server's end, else politely (our FIN, then the closing sweep
    /// reads to the server's); then the verdict.
    fn end_web(
        &mut self,
        table: &mut ProbeTable,
        idx: u32,
        owner: Owner,
        check: &HttpCheck,
        url: usize,
        outcome: &Outcome,
    ) {
        let limit = check.common.connect_timeout.duration();
        let (ok, reason) = match http::url_of(check, url) {
            Some(u) => outcome.verdict(u, limit),
            None => (true, "no url to check".into()),
        };
        let at_once = match (self.exchanges.get(idx), self.conns.get(idx)) {
            (Some((_, exchange)), Some(conn)) => exchange.finish(&conn.socket, outcome),
            _ => outcome.at_eof(),
        };
        if at_once {
            self.conns.free(idx);
        } else {
            self.close(idx, check.common.close, false, DRAIN_BUDGET);
        }
        self.complete(table, owner, probe::result(ok, reason, owner.started));
    }
}
