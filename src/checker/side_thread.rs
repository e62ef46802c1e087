//! A checker thread beside the prober (the file watcher, the BFD thread):
//! it sleeps in `epoll_wait` on sources of its own, and the engine talks to
//! it through a channel of commands and a [`mio::Waker`].
//!
//! ```text
//!   engine ── SideThread::send(command) ──▶ channel ─┐
//!          └─ waker ──▶ epoll_wait returns ──────────┴─▶ try_recv until Empty
//!   drop(SideThread): the channel closes, the thread wakes, sees it closed,
//!                     returns; the drop joins it.
//! ```
//!
//! One way to start, talk to and stop such a thread, so that each thread's
//! file is about its own work only.

use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// The engine's handle on a side thread taking commands `C`. Dropping it
/// stops the thread and waits for it.
pub(super) struct SideThread<C> {
    name: &'static str,
    commands: mpsc::Sender<C>,
    waker: mio::Waker,
    thread: Option<JoinHandle<()>>,
}

impl<C: Send + 'static> SideThread<C> {
    /// Starts thread `name` running `body` with its commands; `waker` (of
    /// the thread's own `Poll`) is how a command wakes it. The body reads
    /// its commands at each wake-up, and returns when the channel says
    /// `Disconnected`.
    pub(super) fn spawn(
        name: &'static str,
        waker: mio::Waker,
        body: impl FnOnce(mpsc::Receiver<C>) + Send + 'static,
    ) -> io::Result<SideThread<C>> {
        let (commands, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(rx))?;
        Ok(SideThread {
            name,
            commands,
            waker,
            thread: Some(thread),
        })
    }

    /// Sends a command and wakes the thread; `false` if the thread is gone.
    pub(super) fn send(&self, command: C) -> bool {
        if self.commands.send(command).is_err() {
            return false;
        }
        if let Err(e) = self.waker.wake() {
            tracing::error!(thread = self.name, error = %e, "cannot wake the thread");
            return false;
        }
        true
    }
}

impl<C> std::fmt::Debug for SideThread<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SideThread")
            .field("name", &self.name)
            .finish()
    }
}

impl<C> Drop for SideThread<C> {
    fn drop(&mut self) {
        // A closed channel is the stop signal.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.commands, closed));
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A thread that echoes its commands until its handle is dropped.
    #[test]
    fn commands_wake_the_thread_and_a_drop_stops_it() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
        let (echo, echoed) = mpsc::channel::<u32>();
        let (done, finished) = mpsc::channel();
        let side = SideThread::spawn("lvsd-test", waker, move |commands| {
            let mut events = mio::Events::with_capacity(4);
            loop {
                // No timeout: only the waker can end this wait.
                let _ = poll.poll(&mut events, None);
                loop {
                    match commands.try_recv() {
                        Ok(c) => {
                            let _ = echo.send(c);
                        }
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => {
                            let _ = done.send(());
                            return;
                        }
                    }
                }
            }
        })
        .unwrap();
        assert!(side.send(7));
        assert!(side.send(8));
        let got: Vec<u32> = (0..2)
            .map(|_| echoed.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(got, [7, 8]);
        drop(side);
        // The drop joined the thread: it has returned already.
        assert!(finished.try_recv().is_ok());
    }
}
