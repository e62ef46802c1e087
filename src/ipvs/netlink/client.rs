//! [`NetlinkTable`]: the kernel's IPVS table over generic netlink.
//!
//! Changes are pipelined: a window of requests goes out in one `send`. Only
//! the window's last request asks for an ack (`NLM_F_ACK`); the others are
//! answered only if they fail (the kernel always reports an error, with the
//! request's sequence number). The kernel handles a whole datagram, in
//! order, before `send` returns, so when the last request's ack is read
//! every error of the window has been read before it, and every request not
//! named by one succeeded. That spares the kernel 20,000 acks when a start
//! adds 20,000 real servers. The window is still sized as if every request
//! failed (what the receive buffer can hold of error replies), so no error
//! is ever dropped for lack of room; nothing is lost however many changes a
//! batch carries.

use std::path::Path;

use super::attrs::{self, Counters};
use super::datagram::Frame;
use super::message::View;
use super::socket::{errno_error, IpvsSocket};
use super::wire::Request;
use crate::ipvs::settings::{Info, SyncDaemon, SyncState, Timeouts};
use crate::ipvs::{DestEntry, IpvsError, IpvsTable, ServiceEntry, ServiceKey, TableOp};

/// Bytes the kernel charges our receive buffer per ack (an skb's true size,
/// rounded up generously).
const ACK_COST: usize = 2048;
/// Most requests in flight at once (`LVSD_NETLINK_WINDOW` lowers it).
const MAX_WINDOW: usize = 1024;
/// Most bytes of requests in one datagram (well under the send buffer).
const MAX_DATAGRAM: usize = 128 * 1024;

/// The kernel's IPVS table, reached over a generic netlink socket.
pub struct NetlinkTable {
    socket: IpvsSocket,
    window: usize,
}

impl NetlinkTable {
    /// Open the table of the calling thread's network namespace.
    pub fn open() -> Result<Self, IpvsError> {
        Ok(Self::with_socket(IpvsSocket::open()?))
    }

    /// Open the table of the network namespace at `netns`
    /// (e.g. `/run/netns/NAME`).
    pub fn open_in_netns(netns: &Path) -> Result<Self, IpvsError> {
        Ok(Self::with_socket(IpvsSocket::open_in_netns(netns)?))
    }

    fn with_socket(socket: IpvsSocket) -> Self {
        let limit = std::env::var("LVSD_NETLINK_WINDOW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(MAX_WINDOW);
        let window = (socket.rcvbuf / ACK_COST).clamp(1, limit.max(1));
        NetlinkTable { socket, window }
    }

    /// Send requests pipelined in windows; one result per request, in
    /// order. Only each window's last request asks for an ack; the others
    /// are reported only when they fail (see the module's doc). The requests
    /// are built as they are sent: only one window's worth is ever held
    /// (20,000 destination requests built up front would hold some 20 MB of
    /// attributes).
    pub fn transact<'a>(
        &mut self,
        msgs: impl IntoIterator<Item = Request<'a>>,
    ) -> Vec<Result<(), IpvsError>> {
        let mut msgs = msgs.into_iter().peekable();
        let mut results: Vec<Result<(), IpvsError>> = Vec::with_capacity(msgs.size_hint().0);
        let mut buf = Vec::with_capacity(MAX_DATAGRAM + 4096);
        while msgs.peek().is_some() {
            buf.clear();
            // The window's requests take consecutive sequence numbers (the
            // socket numbers each request it frames, one more each time):
            // a reply's request is its number's offset from the first's.
            let base = results.len();
            let (mut first, mut last, mut count) = (0u32, 0u32, 0usize);
            while count < self.window && buf.len() < MAX_DATAGRAM {
                let Some(m) = msgs.next() else { break };
                // This request closes the window (and wants the ack) if the
                // window is full, the datagram nearly so (a request is well
                // under 2 KB), or no request follows.
                let closes = count + 1 == self.window
                    || buf.len() >= MAX_DATAGRAM - 2048
                    || msgs.peek().is_none();
                last = self.socket.encode(&m, closes, false, &mut buf);
                if count == 0 {
                    first = last;
                }
                debug_assert_eq!(last, first.wrapping_add(count as u32));
                count += 1;
                results.push(Ok(()));
                if closes {
                    break;
                }
            }
            if let Err(e) = self.socket.send(&buf) {
                for r in &mut results[base..] {
                    *r = Err(e.clone());
                }
                continue;
            }
            'window: loop {
                let frames = match self.socket.receive_frames() {
                    Ok(frames) => frames,
                    Err(e) => {
                        // Replies may have been lost (an overrun): say so
                        // for the whole window; the caller reads the table
                        // again and retries.
                        for r in &mut results[base..] {
                            *r = Err(e.clone());
                        }
                        break;
                    }
                };
                for frame in frames {
                    let (seq, frame) = match frame {
                        Ok(frame) => frame,
                        Err(e) => {
                            for r in &mut results[base..] {
                                *r = Err(e.clone());
                            }
                            break 'window;
                        }
                    };
                    let offset = seq.wrapping_sub(first) as usize;
                    match frame {
                        Frame::Ack(r) if offset < count => {
                            results[base + offset] = r.map_err(errno_error);
                            if seq == last {
                                break 'window;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        results
    }

    /// Send one request and read its single reply message with `parse`.
    fn request<T>(
        &mut self,
        request: Request<'_>,
        parse: impl FnOnce(&View<'_>) -> Result<T, IpvsError>,
    ) -> Result<T, IpvsError> {
        let mut buf = Vec::new();
        let seq = self.socket.encode(&request, false, false, &mut buf);
        self.socket.send(&buf)?;
        loop {
            for frame in self.socket.receive_frames()? {
                match frame? {
                    (s, _) if s != seq => {}
                    (_, Frame::Message(_, attrs)) => return parse(&View::parse(attrs)?),
                    (_, Frame::Ack(Err(e)) | Frame::Done(Err(e))) => return Err(errno_error(e)),
                    (_, Frame::Ack(Ok(())) | Frame::Done(Ok(()))) => {
                        return Err(IpvsError::Protocol("ack without a reply".into()))
                    }
                }
            }
        }
    }

    /// Run a dump to its end, handing each message's top-level attributes
    /// to `each` as they are read from the receive buffer (nothing is
    /// copied). The first error, from the kernel or from `each`, is
    /// returned once the dump has ended, so no part of it is left unread.
    fn dump_each(
        &mut self,
        request: Request<'_>,
        mut each: impl FnMut(&View<'_>) -> Result<(), IpvsError>,
    ) -> Result<(), IpvsError> {
        let mut buf = Vec::new();
        let seq = self.socket.encode(&request, false, true, &mut buf);
        self.socket.send(&buf)?;
        let mut failed = None;
        loop {
            for frame in self.socket.receive_frames()? {
                let (s, frame) = frame?;
                if s != seq {
                    continue;
                }
                let outcome = match frame {
                    Frame::Message(_, attrs) => match failed {
                        Some(_) => Ok(()),
                        None => View::parse(attrs).and_then(|view| each(&view)),
                    },
                    Frame::Done(end) | Frame::Ack(end) => {
                        let end = end.map_err(errno_error);
                        return match failed {
                            Some(e) => Err(e),
                            None => end,
                        };
                    }
                };
                if let Err(e) = outcome {
                    failed.get_or_insert(e);
                }
            }
        }
    }

    /// Run a dump to its end and decode every message of it with `parse`.
    fn dump_all<T>(
        &mut self,
        request: Request<'_>,
        parse: impl Fn(&View<'_>) -> Result<T, IpvsError>,
    ) -> Result<Vec<T>, IpvsError> {
        let mut out = Vec::new();
        self.dump_each(request, |top| {
            out.push(parse(top)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Every service, without destinations, in the kernel's order.
    pub fn services(&mut self) -> Result<Vec<ServiceEntry>, IpvsError> {
        self.dump_all(Request::Services, attrs::parse_service)
    }

    /// One service (without destinations); `NoService` if absent.
    pub fn service(&mut self, key: &ServiceKey) -> Result<ServiceEntry, IpvsError> {
        self.request(Request::Service(key), attrs::parse_service)
    }

    /// The destinations of a service, in the kernel's order.
    pub fn dests(&mut self, key: &ServiceKey) -> Result<Vec<DestEntry>, IpvsError> {
        let mut out = Vec::new();
        self.dests_into(key, Counters::Read, &mut out)?;
        Ok(out)
    }

    /// The destinations of a service, in the kernel's order, into `out`
    /// (cleared first): a caller reading service after service reuses one
    /// vector.
    pub fn dests_into(
        &mut self,
        key: &ServiceKey,
        counters: Counters,
        out: &mut Vec<DestEntry>,
    ) -> Result<(), IpvsError> {
        out.clear();
        let family = key.family();
        self.dump_each(Request::Dests(key), |top| {
            out.push(attrs::parse_dest(top, family, counters)?);
            Ok(())
        })
    }

    /// Version and connection table size (`IPVS_CMD_GET_INFO`).
    pub fn info(&mut self) -> Result<Info, IpvsError> {
        self.request(Request::Info, |top| {
            let g = |k| top.uint(k).unwrap_or(0) as u32;
            Ok(Info {
                version: g(attrs::info::VERSION),
                conn_tab_size: g(attrs::info::CONN_TAB_SIZE),
            })
        })
    }

    /// Protocol timeouts (`IPVS_CMD_GET_CONFIG`).
    pub fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        self.request(Request::Timeouts, |top| Ok(attrs::parse_timeouts(top)))
    }

    /// Set protocol timeouts; zero fields stay as they are.
    pub fn set_timeouts(&mut self, t: &Timeouts) -> Result<(), IpvsError> {
        self.send_acked(Request::SetTimeouts(t))
    }

    /// Running sync daemons.
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.dump_all(Request::Daemons, attrs::parse_daemon)
    }

    /// Start a sync daemon.
    pub fn start_daemon(&mut self, d: &SyncDaemon) -> Result<(), IpvsError> {
        self.send_acked(Request::StartDaemon(d))
    }

    /// Stop the sync daemon in this role.
    pub fn stop_daemon(&mut self, state: SyncState) -> Result<(), IpvsError> {
        self.send_acked(Request::StopDaemon(state))
    }

    /// Zero every counter.
    pub fn zero(&mut self) -> Result<(), IpvsError> {
        self.send_acked(Request::Zero)
    }

    /// Send one change and wait for its ack.
    fn send_acked(&mut self, request: Request<'_>) -> Result<(), IpvsError> {
        self.transact([request])
            .pop()
            .unwrap_or_else(|| Err(IpvsError::Protocol("no result".into())))
    }
}

impl IpvsTable for NetlinkTable {
    fn dump(&mut self) -> Result<Vec<ServiceEntry>, IpvsError> {
        let mut services = self.services()?;
        for s in &mut services {
            s.dests = self.dests(&s.service.key)?;
        }
        Ok(services)
    }

    fn visit(
        &mut self,
        wanted: &dyn Fn(&ServiceKey) -> bool,
        visit: &mut dyn FnMut(&ServiceEntry),
    ) -> Result<(), IpvsError> {
        let mut dests = Vec::new();
        for mut entry in self.services()? {
            if wanted(&entry.service.key) {
                self.dests_into(&entry.service.key, Counters::Skip, &mut dests)?;
                entry.dests = dests;
                visit(&entry);
                dests = entry.dests;
            }
        }
        Ok(())
    }

    fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), IpvsError> {
        NetlinkTable::set_timeouts(self, timeouts)
    }

    fn start_sync_daemon(&mut self, daemon: &SyncDaemon) -> Result<(), IpvsError> {
        self.start_daemon(daemon)
    }

    fn stop_sync_daemon(&mut self, state: SyncState) -> Result<(), IpvsError> {
        self.stop_daemon(state)
    }

    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.daemons()
    }

    fn apply_one(&mut self, op: &TableOp) -> Result<(), IpvsError> {
        self.send_acked(Request::Op(op)).map_err(|e| e.for_op(op))
    }

    fn apply(&mut self, ops: &[TableOp]) -> Vec<Result<(), IpvsError>> {
        let results = self.transact(ops.iter().map(Request::Op));
        results
            .into_iter()
            .zip(ops)
            .map(|(result, op)| result.map_err(|e| e.for_op(op)))
            .collect()
    }

    fn flush(&mut self) -> Result<(), IpvsError> {
        self.send_acked(Request::Flush)
    }
}
