//! Received BFD datagrams, on arbitrary bytes: the parser must never panic,
//! what it accepts must write back to the same packet, and a session fed a
//! run of such datagrams (on a clock the input moves) must never panic nor
//! leave its state machine's rules. Layout: chunks of one length byte, one
//! time step byte (milliseconds) and that many datagram bytes.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lvsd::bfd::packet::{Control, State, LEN};
use lvsd::bfd::session::{Received, Session, Timing};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let timing = Timing {
        min_tx: Duration::from_millis(10),
        idle_tx: Duration::from_secs(1),
        min_rx: Duration::from_millis(10),
        detect_mult: 3,
        passive: data.first().is_some_and(|b| b & 1 == 1),
    };
    let mut session = Session::new(timing, 0x5eed, now);
    let mut rest = data;
    while let [len, step, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        now += Duration::from_millis(u64::from(*step));
        let _ = session.on_timer(now);
        let before = session.state();
        if let Ok(p) = Control::parse(datagram) {
            let mut out = [0u8; LEN];
            p.write(&mut out);
            assert_eq!(Control::parse(&out), Ok(p), "what is read writes back");
            match session.receive(&p, now) {
                Received::Accepted(Some(c)) => {
                    assert_eq!(c.from, before);
                    // Up only from Down (peer Init) or Init (peer Init/Up).
                    if c.to == State::Up {
                        assert!(matches!(
                            (before, p.state),
                            (State::Down, State::Init) | (State::Init, State::Init | State::Up)
                        ));
                    }
                }
                Received::Accepted(None) | Received::Ignored => {}
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
});
