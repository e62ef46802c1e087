//! Arbitrary bytes as a run of received datagrams: the one entry the fuzz
//! target (`fuzz/fuzz_targets/bfd_packet.rs`) and the replay of its
//! checked-in corpus (`tests/host/fuzz_corpus.rs`) share.
//!
//! Layout: chunks of one length byte, one time step byte (milliseconds)
//! and that many datagram bytes; bit 0 of the first byte makes the session
//! passive. Each datagram is parsed; what the parser accepts must write
//! back to the same packet, and goes to one session on a clock the input
//! moves. Nothing may panic, and the session must keep its rules: Up only
//! from Down (peer Init) or Init (peer Init or Up), never P and F together.

use std::time::{Duration, Instant};

use super::packet::{Control, State, LEN};
use super::session::{Received, Session, Timing};

/// Runs `data` as described in the module docs; returns how many
/// datagrams the parser accepted.
pub fn datagrams(data: &[u8]) -> usize {
    let mut now = Instant::now();
    let timing = Timing {
        min_tx: Duration::from_millis(10),
        idle_tx: Duration::from_secs(1),
        min_rx: Duration::from_millis(10),
        detect_mult: 3,
        passive: data.first().is_some_and(|b| b & 1 == 1),
    };
    let mut session = Session::new(timing, 0x5eed, now);
    let mut accepted = 0;
    let mut rest = data;
    while let [len, step, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        now += Duration::from_millis(u64::from(*step));
        let _ = session.on_timer(now);
        let before = session.state();
        if let Ok(p) = Control::parse(datagram) {
            accepted += 1;
            let mut out = [0u8; LEN];
            p.write(&mut out);
            assert_eq!(Control::parse(&out), Ok(p), "what is read writes back");
            if let Received::Accepted(Some(c)) = session.receive(&p, now) {
                assert_eq!(c.from, before);
                if c.to == State::Up {
                    assert!(matches!(
                        (before, p.state),
                        (State::Down, State::Init) | (State::Init, State::Init | State::Up)
                    ));
                }
            }
        }
        while let Some(sent) = session.transmit(now, || 0.5) {
            assert!(!(sent.poll && sent.fin), "P and F together");
            assert_eq!(sent.my_disc, 0x5eed);
            if session.deadline().is_none_or(|d| d > now) {
                break;
            }
        }
    }
    accepted
}
