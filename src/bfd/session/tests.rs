//! The session on a fake clock: two sessions joined by a link the test
//! controls, every packet written to bytes and parsed back on its way.

use super::*;
use crate::bfd::packet::LEN;

fn timing(min_tx_ms: u64, min_rx_ms: u64, mult: u8) -> Timing {
    Timing {
        min_tx: Duration::from_millis(min_tx_ms),
        idle_tx: Duration::from_secs(1),
        min_rx: Duration::from_millis(min_rx_ms),
        detect_mult: mult,
        passive: false,
    }
}

/// Two sessions, `a` and `b`, on a link that can drop either direction.
struct Link {
    a: Session,
    b: Session,
    now: Instant,
    /// Drop what `a` sends / what `b` sends.
    cut_a: bool,
    cut_b: bool,
    /// Every change, with the side and the time.
    changes: Vec<(char, Change, Instant)>,
    /// Every packet sent, with the side and the time.
    sent: Vec<(char, Control, Instant)>,
    jitter: f64,
}

impl Link {
    fn new(a: Timing, b: Timing) -> Link {
        let now = Instant::now();
        Link {
            a: Session::new(a, 0x1111, now),
            b: Session::new(b, 0x2222, now),
            now,
            cut_a: false,
            cut_b: false,
            changes: Vec::new(),
            sent: Vec::new(),
            jitter: 0.5,
        }
    }

    /// Runs every deadline up to `now + d`.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = match (self.a.deadline(), self.b.deadline()) {
                (Some(x), Some(y)) => x.min(y),
                (x, y) => match x.or(y) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            self.step();
        }
        self.now = end;
    }

    fn step(&mut self) {
        let now = self.now;
        for side in ['a', 'b'] {
            let (me, peer, cut) = match side {
                'a' => (&mut self.a, &mut self.b, self.cut_a),
                _ => (&mut self.b, &mut self.a, self.cut_b),
            };
            if let Some(c) = me.on_timer(now) {
                self.changes.push((side, c, now));
            }
            let jitter = self.jitter;
            if let Some(p) = me.transmit(now, || jitter) {
                self.sent.push((side, p, now));
                if cut {
                    continue;
                }
                let mut bytes = [0u8; LEN];
                p.write(&mut bytes);
                let p = Control::parse(&bytes).expect("a session writes valid packets");
                let other = if side == 'a' { 'b' } else { 'a' };
                if let Received::Accepted(Some(c)) = peer.receive(&p, now) {
                    self.changes.push((other, c, now));
                }
            }
        }
    }

    fn sent_by(&self, side: char) -> Vec<(Control, Instant)> {
        self.sent
            .iter()
            .filter(|(s, _, _)| *s == side)
            .map(|(_, p, t)| (*p, *t))
            .collect()
    }
}

#[test]
fn two_sessions_come_up_through_init_and_poll_to_their_fast_rate() {
    let mut l = Link::new(timing(50, 50, 3), timing(50, 50, 3));
    l.run(Duration::from_secs(3));
    assert_eq!((l.a.state(), l.b.state()), (State::Up, State::Up));
    assert_eq!(l.a.remote_disc(), 0x2222);
    assert_eq!(l.b.remote_disc(), 0x1111);
    // Down → Init → Up on one side, Down → Up on the other.
    let a: Vec<State> = l
        .changes
        .iter()
        .filter(|c| c.0 == 'a')
        .map(|c| c.1.to)
        .collect();
    let b: Vec<State> = l
        .changes
        .iter()
        .filter(|c| c.0 == 'b')
        .map(|c| c.1.to)
        .collect();
    assert!(a == [State::Up] || a == [State::Init, State::Up], "{a:?}");
    assert!(b == [State::Up] || b == [State::Init, State::Up], "{b:?}");
    // The Polls were answered: nobody polls any more, the rate is 50 ms.
    assert!(!l.a.polling() && !l.b.polling());
    assert_eq!(l.a.tx_interval(), Some(Duration::from_millis(50)));
    assert!(l.sent.iter().any(|s| s.1.poll) && l.sent.iter().any(|s| s.1.fin));
    assert!(
        !l.sent.iter().any(|s| s.1.poll && s.1.fin),
        "P and F together"
    );
    // Detection: 3 × 50 ms.
    assert_eq!(l.a.detection_time(), Some(Duration::from_millis(150)));
}

#[test]
fn not_up_the_session_sends_once_a_second_jittered_75_to_100_percent() {
    for (mult, jitter, expect_ms) in [(3, 0.0, 750), (3, 1.0, 1000), (1, 1.0, 900), (1, 0.0, 750)] {
        let mut l = Link::new(timing(10, 10, mult), timing(10, 10, 3));
        l.cut_a = true; // b never hears a: a gets no further than Init.
        l.jitter = jitter;
        l.run(Duration::from_secs(5));
        assert_eq!(l.a.state(), State::Init);
        let a = l.sent_by('a');
        assert!(a.len() >= 5, "{}", a.len());
        for w in a.windows(2) {
            let gap = w[1].1 - w[0].1;
            assert_eq!(
                gap,
                Duration::from_millis(expect_ms),
                "mult {mult} jitter {jitter}"
            );
            assert_eq!(
                w[1].0.desired_min_tx, 1_000_000,
                "the slow rate is announced"
            );
        }
    }
}

#[test]
fn a_silent_peer_is_down_after_exactly_the_detection_time() {
    let mut l = Link::new(timing(20, 20, 3), timing(30, 40, 4));
    l.run(Duration::from_secs(3));
    assert_eq!(l.a.state(), State::Up);
    // a's detection time: b's mult 4 × max(a's min_rx 20, b's tx 30) = 120 ms.
    assert_eq!(l.a.detection_time(), Some(Duration::from_millis(120)));
    // b's packets stop; the last one a accepted started its clock.
    l.cut_b = true;
    let last_rx = l.now;
    let before = l.changes.len();
    l.run(Duration::from_secs(1));
    let down: Vec<_> = l.changes[before..].iter().filter(|c| c.0 == 'a').collect();
    assert_eq!(down.len(), 1, "{down:?}");
    let (_, change, at) = down[0];
    assert_eq!(
        (change.from, change.to, change.diag),
        (State::Up, State::Down, Diag::DetectionExpired)
    );
    let last_b = l
        .sent_by('b')
        .iter()
        .map(|s| s.1)
        .filter(|&t| t <= last_rx)
        .max()
        .unwrap();
    assert_eq!(*at - last_b, Duration::from_millis(120));
    assert_eq!(l.a.remote_disc(), 0, "RemoteDiscr zeroed (§6.8.1)");
    // And a tells b so: b goes down too (Neighbor Signaled Down).
    assert_eq!(l.b.state(), State::Down);
    assert_eq!(l.b.diag(), Diag::NeighborDown);
}

#[test]
fn a_peer_going_admin_down_takes_the_session_down_without_detection() {
    let mut l = Link::new(timing(20, 20, 3), timing(20, 20, 3));
    l.run(Duration::from_secs(3));
    assert_eq!(l.a.state(), State::Up);
    l.b.admin_down(l.now);
    l.run(Duration::from_millis(50));
    assert_eq!(l.a.state(), State::Down);
    assert_eq!(l.a.diag(), Diag::NeighborDown);
    assert_eq!(l.b.state(), State::AdminDown);
    // It stays Down (never Init) while the peer is AdminDown.
    l.run(Duration::from_secs(3));
    assert_eq!(l.a.state(), State::Down);
    assert!(l.changes.iter().rfind(|c| c.0 == 'a').unwrap().1.to == State::Down);
}

#[test]
fn a_timer_change_goes_through_poll_and_final_without_a_flap() {
    let mut l = Link::new(timing(20, 20, 3), timing(20, 20, 3));
    l.run(Duration::from_secs(3));
    let changes = l.changes.len();
    let sent = l.sent.len();
    // Slower: the new rate is announced with P, used only after F.
    l.a.set_min_tx(Duration::from_millis(100));
    assert!(l.a.polling());
    assert_eq!(l.a.tx_interval(), Some(Duration::from_millis(20)));
    l.run(Duration::from_millis(200));
    assert!(!l.a.polling());
    assert_eq!(l.a.tx_interval(), Some(Duration::from_millis(100)));
    let polls = l.sent[sent..]
        .iter()
        .filter(|s| s.0 == 'a' && s.1.poll)
        .count();
    let finals = l.sent[sent..]
        .iter()
        .filter(|s| s.0 == 'b' && s.1.fin)
        .count();
    assert!(polls >= 1 && finals >= 1, "{polls} polls, {finals} finals");
    // b's detection time follows a's new rate.
    assert_eq!(l.b.detection_time(), Some(Duration::from_millis(300)));
    l.run(Duration::from_secs(2));
    assert_eq!(
        l.changes.len(),
        changes,
        "a flap: {:?}",
        &l.changes[changes..]
    );
    assert_eq!((l.a.state(), l.b.state()), (State::Up, State::Up));
}

#[test]
fn a_poll_is_answered_at_once_with_a_final_and_no_poll_bit() {
    let now = Instant::now();
    let mut s = Session::new(timing(20, 20, 3), 5, now);
    let _ = s.transmit(now, || 0.5);
    let peer = Control {
        diag: Diag::None,
        state: State::Down,
        poll: true,
        fin: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_disc: 9,
        your_disc: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 20_000,
        required_min_echo_rx: 0,
    };
    let later = now + Duration::from_millis(10);
    assert!(matches!(
        s.receive(&peer, later),
        Received::Accepted(Some(_))
    ));
    assert!(s.deadline().unwrap() <= later);
    let reply = s.transmit(later, || 0.5).expect("a Final at once");
    assert!(reply.fin && !reply.poll);
    assert_eq!(reply.your_disc, 9);
}

#[test]
fn a_passive_session_is_silent_until_it_hears_the_peer() {
    let mut passive = timing(20, 20, 3);
    passive.passive = true;
    let mut l = Link::new(passive, timing(20, 20, 3));
    l.cut_b = true;
    l.run(Duration::from_secs(3));
    assert!(l.sent_by('a').is_empty());
    l.cut_b = false;
    l.run(Duration::from_secs(3));
    assert!(!l.sent_by('a').is_empty());
    assert_eq!(l.a.state(), State::Up);
}

#[test]
fn an_admin_down_session_ignores_what_it_receives() {
    let now = Instant::now();
    let mut s = Session::new(timing(20, 20, 3), 5, now);
    s.admin_down(now);
    let p = s.transmit(now, || 0.5).unwrap();
    assert_eq!((p.state, p.diag), (State::AdminDown, Diag::AdminDown));
    let peer = Control {
        my_disc: 9,
        your_disc: 5,
        state: State::Init,
        ..p
    };
    assert_eq!(s.receive(&peer, now), Received::Ignored);
    assert_eq!(s.state(), State::AdminDown);
}

#[test]
fn a_peer_asking_for_a_faster_rate_is_served_from_the_next_packet() {
    let now = Instant::now();
    let mut s = Session::new(timing(50, 50, 3), 5, now);
    let _ = s.transmit(now, || 0.0);
    let mut peer = Control {
        diag: Diag::None,
        state: State::Init,
        poll: false,
        fin: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_disc: 9,
        your_disc: 5,
        desired_min_tx: 1_000_000,
        required_min_rx: 1_000_000,
        required_min_echo_rx: 0,
    };
    let t1 = now + Duration::from_millis(10);
    s.receive(&peer, t1);
    assert_eq!(s.state(), State::Up);
    // Up, but the peer still asks for 1 s: that is the rate.
    assert_eq!(s.tx_interval(), Some(Duration::from_secs(1)));
    // The peer now asks for 50 ms: the next packet is due within 50 ms of
    // the last one, not a second later.
    peer.state = State::Up;
    peer.required_min_rx = 50_000;
    let t2 = now + Duration::from_millis(20);
    s.receive(&peer, t2);
    let due = s.deadline().unwrap();
    assert!(due <= now + Duration::from_millis(50), "{:?}", due - now);
}

/// What [`batched`] saw.
struct Batched {
    /// Every packet: (pair, side, packet, time).
    sent: Vec<(usize, char, Control, Instant)>,
    wakeups: usize,
    pairs: Vec<(Session, Session)>,
}

/// `n` pairs of sessions served as lvsd's BFD thread serves them: woken
/// at the earliest `wake_at`, every session within the batch window of
/// that instant is given `transmit_early`; the jitter drawn at random.
fn batched(n: usize, mult: u8, run: Duration) -> Batched {
    const WINDOW: Duration = Duration::from_millis(4);
    const LEAD: Duration = Duration::from_micros(250);
    let start = Instant::now();
    let mut pairs: Vec<(Session, Session)> = (0..n)
        .map(|i| {
            let i = i as u32;
            (
                Session::new(timing(50, 50, mult), 1000 + i, start),
                Session::new(timing(50, 50, mult), 5000 + i, start),
            )
        })
        .collect();
    // xorshift: a fixed sequence, so a failure repeats.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut sent = Vec::new();
    let mut wakeups = 0;
    while let Some(now) = pairs
        .iter()
        .flat_map(|(a, b)| [a.wake_at(LEAD), b.wake_at(LEAD)])
        .flatten()
        .min()
        .filter(|&now| now <= start + run)
    {
        wakeups += 1;
        // A wake-up that serves nothing, over and over, is a spin.
        assert!(wakeups < 1_000_000, "the sessions do not move on");
        let horizon = now + WINDOW - LEAD;
        for (i, pair) in pairs.iter_mut().enumerate() {
            for side in ['a', 'b'] {
                let (me, peer) = match side {
                    'a' => (&mut pair.0, &mut pair.1),
                    _ => (&mut pair.1, &mut pair.0),
                };
                if me.wake_at(LEAD).is_none_or(|at| at > horizon) {
                    continue;
                }
                me.on_timer(now);
                while let Some(p) = me.transmit_early(now, WINDOW, &mut random) {
                    sent.push((i, side, p, now));
                    let mut bytes = [0u8; LEN];
                    p.write(&mut bytes);
                    let p = Control::parse(&bytes).expect("a session writes valid packets");
                    peer.receive(&p, now);
                }
            }
        }
    }
    Batched {
        sent,
        wakeups,
        pairs,
    }
}

#[test]
fn batched_sends_keep_every_gap_within_75_to_100_percent_and_share_wake_ups() {
    // Detect Mult 1: at most 90 % of the interval (§6.8.7).
    for (mult, ceiling) in [(3, 1.0), (1, 0.9)] {
        let n = 40;
        let Batched {
            sent,
            wakeups,
            pairs,
        } = batched(n, mult, Duration::from_secs(12));
        for (a, b) in &pairs {
            assert_eq!((a.state(), b.state()), (State::Up, State::Up));
            assert!(!a.polling() && !b.polling());
        }
        // Steady state: both Up at 50 ms, the Poll Sequences done.
        let settled = sent[0].3 + Duration::from_secs(5);
        let interval = Duration::from_millis(50);
        let mut gaps = 0;
        for i in 0..n {
            for side in ['a', 'b'] {
                let times: Vec<Instant> = sent
                    .iter()
                    .filter(|s| s.0 == i && s.1 == side && s.3 >= settled)
                    .inspect(|s| assert!(!s.2.poll && !s.2.fin, "a Poll or Final at steady state"))
                    .map(|s| s.3)
                    .collect();
                for w in times.windows(2) {
                    let gap = w[1] - w[0];
                    assert!(
                        gap >= interval.mul_f64(0.75) && gap <= interval.mul_f64(ceiling),
                        "mult {mult}: pair {i}{side}: a gap of {gap:?}"
                    );
                    gaps += 1;
                }
            }
        }
        // ~2 × 40 sessions × 7 s / 45 ms: the check saw them all.
        assert!(gaps > 10_000, "{gaps} gaps");
        // Batched: many packets a wake-up (one each would be ~1).
        let per_wakeup = sent.len() as f64 / wakeups as f64;
        assert!(per_wakeup > 4.0, "{per_wakeup:.1} packets a wake-up");
    }
}
