//! The reference: the least a TCP prober can do, in plain epoll via libc.
//! socket, non-blocking connect, wait for writable, read SO_ERROR, close.
//! Same targets and the same fixed-rate schedule as the engine gets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::Run;

pub fn run(targets: &[SocketAddr], period: Duration, warm: Duration, measure: Duration) -> Run {
    let n = targets.len();
    let step_ns = (period / n as u32).as_nanos() as u64;
    // SAFETY: plain epoll and socket calls on fds this function owns.
    unsafe {
        let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let start = Instant::now();
        let measure_from = start + warm;
        let end = measure_from + measure;
        let mut seq: u64 = 0;
        let mut run = Run::default();
        let mut measuring = false;
        let mut cpu_start = Duration::ZERO;
        let mut switches_start = crate::Switches::default();
        let mut lags: Vec<Duration> = Vec::new();
        let mut in_flight = vec![false; 1 << 20];
        loop {
            let now = Instant::now();
            if !measuring && now >= measure_from {
                measuring = true;
                cpu_start = crate::thread_cpu();
                switches_start = crate::thread_switches();
            }
            if now >= end {
                break;
            }
            // Launch the probes that are due, a bounded batch at a time so
            // that completions are handled in between.
            for _ in 0..64 {
                let due = start + Duration::from_nanos(seq * step_ns);
                if due > now {
                    break;
                }
                let target = targets[(seq % n as u64) as usize];
                seq += 1;
                if measuring {
                    lags.push(now - due);
                }
                match launch(epoll, target) {
                    Some(fd) => in_flight[fd as usize] = true,
                    None if measuring => run.failed += 1,
                    None => {}
                }
            }
            let next_due = start + Duration::from_nanos(seq * step_ns);
            let wait_ms = next_due
                .saturating_duration_since(Instant::now())
                .as_micros()
                .div_ceil(1000) as i32;
            let got = libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, wait_ms);
            for ev in events.iter().take(got.max(0) as usize) {
                let fd = ev.u64 as i32;
                let mut err: libc::c_int = 0;
                let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut err as *mut libc::c_int).cast(),
                    &mut len,
                );
                libc::close(fd);
                in_flight[fd as usize] = false;
                if measuring {
                    if err == 0 {
                        run.ok += 1;
                    } else {
                        run.failed += 1;
                    }
                }
            }
        }
        run.cpu = crate::thread_cpu() - cpu_start;
        run.switches = crate::thread_switches() - switches_start;
        for (fd, open) in in_flight.iter().enumerate() {
            if *open {
                libc::close(fd as i32);
            }
        }
        run.elapsed = measure;
        run.lag_p99 = crate::p99(&mut lags);
        libc::close(epoll);
        run
    }
}

/// Starts one probe: its fd, or None if it failed at once.
fn launch(epoll: i32, target: SocketAddr) -> Option<i32> {
    let SocketAddr::V4(v4) = target else {
        return None;
    };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: socket(2), connect(2), epoll_ctl(2) and close(2) on integer
    // descriptors this function owns (and the caller's epoll); `addr` and
    // `ev` live across the calls that read them, given with their true
    // sizes; errno is read on this thread right after connect.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return None;
        }
        let rc = libc::connect(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rc != 0 && *libc::__errno_location() != libc::EINPROGRESS {
            libc::close(fd);
            return None;
        }
        let mut ev = libc::epoll_event {
            events: libc::EPOLLOUT as u32,
            u64: fd as u64,
        };
        libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut ev);
        Some(fd)
    }
}
