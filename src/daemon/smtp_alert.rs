//! `smtp_alert`: a mail for each real server that goes up or down and each
//! virtual server that gains or loses its quorum, as keepalived sends them.
//!
//! Who gets mail (keepalived.conf(5), and keepalived 2.2.7 watched in the
//! guest): nothing at all without `notification_email` and `smtp_server`
//! in `global_defs`. Then a real server's changes are mailed unless its
//! `smtp_alert` is off; a virtual server's only if its `smtp_alert` is on.
//! Where a block says nothing, `global_defs`' `smtp_alert_checker` (else
//! `smtp_alert`) decides for both, when given.
//!
//! One mail, on its own connection to `smtp_server` (port 25 unless
//! given), as keepalived 2.2.7 writes it:
//!
//! ```text
//! HELO <smtp_helo_name: the host name>
//! MAIL FROM:<notification_email_from: keepalived@host name>
//! RCPT TO:<each notification_email>
//! DATA
//! Date: Sun, 06 Dec 2026 00:27:53 +0000
//! From: lvs@example.com
//! Subject: [LVS1] Realserver [10.0.0.5]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - DOWN
//! X-Mailer: Keepalived
//! To: ops@example.com, oncall@example.org
//!
//! => TCP CHECK failed on service <=
//!
//! .
//! QUIT
//! ```
//!
//! `[router_id]` opens the subject (the host name without one). A virtual
//! server's mail says `Virtualserver [10.0.0.1]:tcp:80 - UP` and, in its
//! body, the quorum figures (`=> Lost quorum 1+0=1 <= 0 <=`: quorum,
//! hysteresis, their sum, the live weight). The bodies keepalived writes
//! for `TCP_CHECK` and `MISC_CHECK` are written the same; other kinds say
//! `=> KIND failed on service <=` (see docs/differences.md).
//!
//! Mails never hold up lvsd: each is sent by a task of its own, at most
//! [`MAX_SENDING`] at a time and [`MAX_WAITING`] waiting (beyond that a
//! mail is dropped, and the log says so), each step bounded by
//! `smtp_connect_timeout` (30 s unless given). The connection ends with
//! our FIN after the answer to `QUIT`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::notify_fifo::fifo_vs_name;
use crate::config::{Check, Config, VsAddress};
use crate::reconcile::Transition;

/// Mails sent at once.
pub const MAX_SENDING: usize = 4;
/// Mails waiting to be sent, at most.
pub const MAX_WAITING: usize = 256;
/// The longest reply line read.
const MAX_REPLY: usize = 4096;

/// Where mail goes and how it is signed: `global_defs`' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// `smtp_server HOST [PORT]`.
    pub server: (String, u16),
    /// `notification_email`.
    pub to: Vec<String>,
    /// `notification_email_from`.
    pub from: String,
    /// `smtp_helo_name`.
    pub helo: String,
    /// `smtp_connect_timeout`.
    pub timeout: Duration,
    /// `router_id`, else the host name: the subject's tag.
    pub tag: String,
    /// `smtp_alert_checker`, else `smtp_alert`, when given.
    pub default: Option<bool>,
}

impl MailSettings {
    /// The settings of `config`, or `None` when it sends no mail (no
    /// `notification_email` or no `smtp_server`).
    pub fn of(config: &Config) -> Option<MailSettings> {
        let host = host_name();
        let mut settings = MailSettings {
            server: (String::new(), 25),
            to: Vec::new(),
            from: format!("keepalived@{host}"),
            helo: host.clone(),
            timeout: Duration::from_secs(30),
            tag: config.global.router_id.clone().unwrap_or(host),
            default: None,
        };
        let (mut alert, mut alert_checker) = (None, None);
        for (key, value) in &config.global.notification {
            let flag =
                || crate::config::values::boolean(value).or(value.is_empty().then_some(true));
            match key.as_str() {
                "notification_email" => settings.to.push(value.clone()),
                "notification_email_from" => settings.from = value.clone(),
                "smtp_helo_name" => settings.helo = value.clone(),
                "smtp_connect_timeout" => {
                    if let Ok(seconds) = value.parse::<u64>() {
                        settings.timeout = Duration::from_secs(seconds.max(1));
                    }
                }
                "smtp_server" => {
                    let mut words = value.split_whitespace();
                    let host = words.next().unwrap_or_default().to_string();
                    let port = words.next().and_then(|p| p.parse().ok()).unwrap_or(25);
                    settings.server = (host, port);
                }
                "smtp_alert" => alert = flag(),
                "smtp_alert_checker" => alert_checker = flag(),
                _ => {}
            }
        }
        settings.default = alert_checker.or(alert);
        (!settings.to.is_empty() && !settings.server.0.is_empty()).then_some(settings)
    }
}

/// One mail: its subject and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// After `[tag] `.
    pub subject: String,
    /// One line, without its `=> … <=`.
    pub body: String,
}

/// The mails `transitions` call for under `config`.
pub fn alerts(config: &Config, settings: &MailSettings, transitions: &[Transition]) -> Vec<Alert> {
    let state = |up: bool| if up { "UP" } else { "DOWN" };
    transitions
        .iter()
        .filter_map(|t| match *t {
            Transition::RealServer { vs, rs, up } => {
                let v = config.virtual_servers.get(vs)?;
                let r = v.real_servers.get(rs)?;
                if !r.smtp_alert.or(settings.default).unwrap_or(true) {
                    return None;
                }
                let rs_name = fifo_vs_name(
                    &VsAddress::Addr {
                        addr: r.addr,
                        port: r.port,
                    },
                    v.protocol,
                );
                Some(Alert {
                    subject: format!(
                        "Realserver {rs_name} of virtual server {} - {}",
                        fifo_vs_name(&v.address, v.protocol),
                        state(up)
                    ),
                    body: check_body(r.checks.first().map(|c| &**c), up),
                })
            }
            Transition::VirtualServer {
                vs,
                up,
                live_weight,
                first,
            } => {
                let v = config.virtual_servers.get(vs)?;
                if !v.smtp_alert.or(settings.default).unwrap_or(false) {
                    return None;
                }
                let what = match (up, first) {
                    (true, true) => "Starting with quorum up",
                    (true, false) => "Gained quorum",
                    (false, _) => "Lost quorum",
                };
                let (q, h) = (v.quorum, v.hysteresis);
                Some(Alert {
                    subject: format!(
                        "Virtualserver {} - {}",
                        fifo_vs_name(&v.address, v.protocol),
                        state(up)
                    ),
                    body: format!(
                        "{what} {q}+{h}={} <= {live_weight}",
                        u64::from(q) + u64::from(h)
                    ),
                })
            }
        })
        .collect()
}

/// A real server's body: keepalived's words for `TCP_CHECK` and
/// `MISC_CHECK`, the kind's keyword for the others.
fn check_body(check: Option<&Check>, up: bool) -> String {
    match (check, up) {
        (Some(Check::Tcp(_)), true) => "TCP CHECK succeed on service".into(),
        (Some(Check::Tcp(_)), false) => "TCP CHECK failed on service".into(),
        (Some(Check::Misc(_)), true) => "MISC CHECK succeeded on service".into(),
        (Some(Check::Misc(_)), false) => "MISC CHECK failed on service".into(),
        (Some(check), true) => format!("{} succeeded on service", check.keyword()),
        (Some(check), false) => format!("{} failed on service", check.keyword()),
        (None, true) => "Real server up".into(),
        (None, false) => "Real server down".into(),
    }
}

/// The whole message after `DATA`, dot-stuffed, ending with `.`.
pub fn message(settings: &MailSettings, alert: &Alert, date: &str) -> String {
    let mut text = format!(
        "Date: {date}\r\nFrom: {}\r\nSubject: [{}] {}\r\nX-Mailer: Keepalived\r\nTo: {}\r\n\r\n=> {} <=\r\n\r\n",
        settings.from,
        settings.tag,
        alert.subject,
        settings.to.join(", "),
        alert.body
    );
    text = text.replace("\r\n.", "\r\n..");
    text.push_str(".\r\n");
    text
}

/// Sends mails without ever making their caller wait.
#[derive(Debug, Clone)]
pub struct Mailer {
    sending: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl Default for Mailer {
    fn default() -> Self {
        Mailer {
            sending: Arc::new(Semaphore::new(MAX_SENDING)),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Mailer {
    /// Queues the mails `transitions` call for under `config`.
    pub fn send(&self, config: &Config, transitions: &[Transition]) {
        if transitions.is_empty() {
            return;
        }
        let Some(settings) = MailSettings::of(config) else {
            return;
        };
        let settings = Arc::new(settings);
        for alert in alerts(config, &settings, transitions) {
            if self.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!(subject = %alert.subject, "smtp_alert: too many mails waiting; this one is dropped");
                continue;
            }
            let (sending, waiting) = (Arc::clone(&self.sending), Arc::clone(&self.waiting));
            let settings = Arc::clone(&settings);
            tokio::spawn(async move {
                let permit = sending.acquire_owned().await;
                let sent = deliver(&settings, &alert).await;
                drop(permit);
                waiting.fetch_sub(1, Ordering::Relaxed);
                let (host, port) = &settings.server;
                match sent {
                    Ok(()) => {
                        tracing::info!(server = %format!("{host}:{port}"), subject = %alert.subject, "smtp_alert: mail sent")
                    }
                    Err(e) => {
                        tracing::warn!(server = %format!("{host}:{port}"), subject = %alert.subject, error = %e, "smtp_alert: mail not sent")
                    }
                }
            });
        }
    }
}

/// Holds the dialog for one mail.
async fn deliver(settings: &MailSettings, alert: &Alert) -> Result<(), String> {
    let step = settings.timeout;
    let bounded =
        |what: &'static str| move |_| format!("no answer within {} s ({what})", step.as_secs());
    let (host, port) = &settings.server;
    let stream = tokio::time::timeout(step, TcpStream::connect((host.as_str(), *port)))
        .await
        .map_err(bounded("connect"))?
        .map_err(|e| format!("connect: {e}"))?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut expect = async |want: u16, what: &'static str| -> Result<(), String> {
        tokio::time::timeout(step, reply(&mut read, want))
            .await
            .map_err(bounded(what))?
            .map_err(|e| format!("{what}: {e}"))
    };
    expect(220, "banner").await?;
    let mut say = async |line: String| -> Result<(), String> {
        tokio::time::timeout(step, write.write_all(line.as_bytes()))
            .await
            .map_err(bounded("sending"))?
            .map_err(|e| format!("sending: {e}"))
    };
    say(format!("HELO {}\r\n", settings.helo)).await?;
    expect(250, "HELO").await?;
    say(format!("MAIL FROM:<{}>\r\n", settings.from)).await?;
    expect(250, "MAIL FROM").await?;
    for to in &settings.to {
        say(format!("RCPT TO:<{to}>\r\n")).await?;
        expect(250, "RCPT TO").await?;
    }
    say("DATA\r\n".into()).await?;
    expect(354, "DATA").await?;
    say(message(settings, alert, &rfc5322_date())).await?;
    expect(250, "the message").await?;
    say("QUIT\r\n".into()).await?;
    expect(221, "QUIT").await?;
    let _ = write.shutdown().await;
    Ok(())
}

/// Reads one reply (continuation lines `250-…` included) and checks its
/// code.
async fn reply<R: AsyncBufReadExt + Unpin>(read: &mut R, want: u16) -> Result<(), String> {
    loop {
        let mut line = Vec::new();
        let n = (&mut *read)
            .take(MAX_REPLY as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        if !line.ends_with(b"\n") {
            return Err(format!("a reply line over {MAX_REPLY} bytes"));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        let code = text.get(..3).and_then(|c| c.parse::<u16>().ok());
        match (code, text.as_bytes().get(3)) {
            (Some(_), Some(b'-')) => continue,
            (Some(code), _) if code == want => return Ok(()),
            _ => return Err(format!("answered `{text}`, expected {want}")),
        }
    }
}

/// The local time as RFC 5322 writes it: `Sun, 06 Dec 2026 00:27:53 +0000`.
fn rfc5322_date() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as libc::time_t);
    // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live values of the right types.
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return String::new();
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let offset = tm.tm_gmtoff / 60;
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} {}{:02}{:02}",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        tm.tm_mday,
        MONTHS[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        if offset < 0 { '-' } else { '+' },
        offset.abs() / 60,
        offset.abs() % 60
    )
}

/// This machine's host name.
fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_bytes, LoadOptions};

    fn config(text: &str) -> Config {
        load_bytes(
            std::path::Path::new("t.conf"),
            text.into(),
            &LoadOptions::default(),
        )
        .unwrap()
        .config
    }

    const GLOBAL: &str = "global_defs {\n notification_email {\n ops@example.com\n oncall@example.org\n }\n notification_email_from lvs@example.com\n smtp_server 127.0.0.1 2525\n smtp_connect_timeout 5\n router_id LVS1\n}\n";

    #[test]
    fn settings_come_from_global_defs_with_keepalived_s_defaults() {
        let c = config(&format!(
            "{GLOBAL}virtual_server 10.0.0.1 80 {{\n protocol TCP\n}}\n"
        ));
        let s = MailSettings::of(&c).unwrap();
        assert_eq!(s.server, ("127.0.0.1".into(), 2525));
        assert_eq!(s.to, ["ops@example.com", "oncall@example.org"]);
        assert_eq!(s.from, "lvs@example.com");
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.tag, "LVS1");
        assert_eq!(s.default, None);
        let bare = config("global_defs {\n notification_email {\n a@b\n }\n}\n");
        assert_eq!(MailSettings::of(&bare), None, "no smtp_server: no mail");
        let no_one = config("global_defs {\n smtp_server 127.0.0.1\n}\n");
        assert_eq!(MailSettings::of(&no_one), None, "no address: no mail");
        let defaults =
            config("global_defs {\n notification_email {\n a@b\n }\n smtp_server mx\n}\n");
        let s = MailSettings::of(&defaults).unwrap();
        assert_eq!(s.server, ("mx".into(), 25));
        assert!(s.from.starts_with("keepalived@"));
        assert_eq!(s.timeout, Duration::from_secs(30));
    }

    fn rs_down(vs: usize, rs: usize) -> Transition {
        Transition::RealServer { vs, rs, up: false }
    }

    #[test]
    fn real_servers_mail_unless_off_virtual_servers_only_if_on() {
        let c = config(&format!(
            "{GLOBAL}virtual_server 10.0.0.1 80 {{\n protocol TCP\n smtp_alert\n real_server 10.0.0.5 8080 {{\n TCP_CHECK {{\n }}\n }}\n real_server 10.0.0.6 8080 {{\n smtp_alert off\n MISC_CHECK {{\n misc_path /bin/true\n }}\n }}\n}}\nvirtual_server 10.0.0.2 80 {{\n protocol TCP\n real_server 10.0.0.7 8080 {{\n MISC_CHECK {{\n misc_path /bin/true\n }}\n }}\n}}\n"
        ));
        let s = MailSettings::of(&c).unwrap();
        let vs = |vs, up| Transition::VirtualServer {
            vs,
            up,
            live_weight: 0,
            first: false,
        };
        let got = alerts(
            &c,
            &s,
            &[
                rs_down(0, 0),
                rs_down(0, 1),
                rs_down(1, 0),
                vs(0, false),
                vs(1, false),
            ],
        );
        let subjects: Vec<&str> = got.iter().map(|a| a.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "Realserver [10.0.0.5]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - DOWN",
                "Realserver [10.0.0.7]:tcp:8080 of virtual server [10.0.0.2]:tcp:80 - DOWN",
                "Virtualserver [10.0.0.1]:tcp:80 - DOWN",
            ]
        );
        assert_eq!(got[0].body, "TCP CHECK failed on service");
        assert_eq!(got[1].body, "MISC CHECK failed on service");
        assert_eq!(got[2].body, "Lost quorum 1+0=1 <= 0");
        // global_defs' smtp_alert_checker off silences the blocks that say nothing.
        let quiet = config(&format!(
            "{}virtual_server 10.0.0.1 80 {{\n protocol TCP\n real_server 10.0.0.5 8080 {{\n TCP_CHECK {{\n }}\n }}\n}}\n",
            GLOBAL.replace("router_id LVS1", "router_id LVS1\n smtp_alert_checker off")
        ));
        let s = MailSettings::of(&quiet).unwrap();
        assert!(alerts(&quiet, &s, &[rs_down(0, 0)]).is_empty());
    }

    #[test]
    fn the_message_is_keepalived_s() {
        let c = config(&format!(
            "{GLOBAL}virtual_server 10.0.0.1 80 {{\n protocol TCP\n}}\n"
        ));
        let s = MailSettings::of(&c).unwrap();
        let alert = Alert {
            subject: "Virtualserver [10.0.0.1]:tcp:80 - UP".into(),
            body: "Starting with quorum up 1+0=1 <= 1".into(),
        };
        assert_eq!(
            message(&s, &alert, "Sun, 06 Dec 2026 00:29:00 +0000"),
            "Date: Sun, 06 Dec 2026 00:29:00 +0000\r\nFrom: lvs@example.com\r\n\
             Subject: [LVS1] Virtualserver [10.0.0.1]:tcp:80 - UP\r\nX-Mailer: Keepalived\r\n\
             To: ops@example.com, oncall@example.org\r\n\r\n\
             => Starting with quorum up 1+0=1 <= 1 <=\r\n\r\n.\r\n"
        );
    }

    #[test]
    fn the_date_is_rfc_5322() {
        let date = rfc5322_date();
        let words: Vec<&str> = date.split(' ').collect();
        assert_eq!(words.len(), 6, "{date}");
        assert!(words[0].ends_with(','), "{date}");
        assert_eq!(words[4].len(), 8, "{date}");
        assert!(
            words[5].starts_with(['+', '-']) && words[5].len() == 5,
            "{date}"
        );
    }
}
