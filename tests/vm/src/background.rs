//! Long-running programs in the guest: daemons under test (lvsd,
//! keepalived, backends) started in the background of one `run`, waited
//! for, and stopped by later ones.
//!
//! Each has a NAME: its output goes to `/run/bg/NAME.log` and its pid to
//! `/run/bg/NAME.pid` in the guest.

use std::time::Duration;

use crate::{Guest, VmError};

/// `s` as one single-quoted shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Guest {
    /// Starts the shell command `command` in the background as NAME (in its
    /// own session, stdin `/dev/null`, output to `/run/bg/NAME.log`) and
    /// returns its pid. E.g. `guest.spawn("keepalived", "keepalived -C -n -l -f /etc/keepalived/k.conf")`
    /// or `guest.spawn("lvsd", "lvsd -n -l -f /etc/lvsd.conf")`.
    pub fn spawn(&mut self, name: &str, command: &str) -> Result<u32, VmError> {
        let out = self.run(&format!(
            "mkdir -p /run/bg\n\
             setsid bash -c {} > /run/bg/{name}.log 2>&1 < /dev/null &\n\
             echo $! | tee /run/bg/{name}.pid",
            shell_quote(&format!("exec {command}"))
        ))?;
        out.stdout
            .trim()
            .parse()
            .map_err(|_| VmError::Failed(format!("spawn {name}: {out}")))
    }

    /// Polls the shell condition `condition` (e.g. `ipvsadm -Sn | grep -q 8081`)
    /// in the guest every 100 ms until it holds; [`VmError::Timeout`] after `timeout`.
    pub fn wait_for(&mut self, condition: &str, timeout: Duration) -> Result<(), VmError> {
        let tries = (timeout.as_millis() / 100).max(1);
        let script = format!(
            "for i in $(seq {tries}); do ( {condition} ) >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1"
        );
        let out = self.run_timeout(&script, timeout + Duration::from_secs(5))?;
        if out.success() {
            Ok(())
        } else {
            Err(VmError::Timeout(format!(
                "guest {}: `{condition}` still false after {timeout:?} (log: {})",
                self.name(),
                self.log_path().display()
            )))
        }
    }

    /// Sends SIGTERM to NAME, waits up to 10 s for it to exit (then
    /// SIGKILL), and returns its log.
    pub fn stop(&mut self, name: &str) -> Result<String, VmError> {
        self.signal(name, "TERM")?;
        let gone = format!(
            "p=$(cat /run/bg/{name}.pid); ! kill -0 $p || grep -q '^[0-9]* (.*) Z' /proc/$p/stat"
        );
        if self.wait_for(&gone, Duration::from_secs(10)).is_err() {
            self.signal(name, "KILL")?;
        }
        self.log_of(name)
    }

    /// Sends signal `sig` (`HUP`, `USR1`...) to NAME.
    pub fn signal(&mut self, name: &str, sig: &str) -> Result<(), VmError> {
        let out = self.run(&format!("kill -{sig} $(cat /run/bg/{name}.pid)"))?;
        if out.success() {
            Ok(())
        } else {
            Err(VmError::Failed(format!("kill -{sig} {name}: {out}")))
        }
    }

    /// What NAME has printed so far.
    pub fn log_of(&mut self, name: &str) -> Result<String, VmError> {
        Ok(self.run(&format!("cat /run/bg/{name}.log"))?.stdout)
    }
}
