//! Fixtures for `SSL_GET` tests: certificates made with the `openssl`
//! command, `openssl s_server` backends, and checks read from a
//! keepalived.conf, as an operator writes them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use lvsd::config::{load_bytes, Check, ConfigError, LoadOptions};

/// Whether the `openssl` command is there; under CI its absence fails.
pub fn have_openssl() -> bool {
    let ok = Command::new("openssl").arg("version").output().is_ok();
    if !ok && std::env::var("CI").as_deref() == Ok("true") {
        panic!("cannot run under CI: needs the openssl command (package openssl)");
    }
    if !ok {
        eprintln!("skipped: needs the openssl command (package openssl)");
    }
    ok
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Certificates and keys in a temporary directory:
/// - `self.pem`/`self.key`: self-signed RSA, CN=bogus.invalid (a name no
///   check uses);
/// - `expired.pem`/`expired.key`: self-signed EC P-256, expired yesterday;
/// - `sni.pem`/`sni.key`: self-signed EC, CN=www.sni.test;
/// - `ca.pem`/`ca.key`: a CA; `client.pem`/`client.key`: a client
///   certificate it signed; `client-enc.key`: the same key, encrypted
///   PKCS#8 with the password `s3cret`; `client-legacy.key`: encrypted the
///   old OpenSSL way.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

impl Certs {
    pub fn new() -> Certs {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "self.key",
                "-out",
                "self.pem",
                "-subj",
                "/CN=bogus.invalid",
                "-days",
                "30",
            ],
        );
        openssl(
            d,
            &[
                &["req", "-new", "-nodes"][..],
                &ec,
                &[
                    "-keyout",
                    "expired.key",
                    "-out",
                    "expired.csr",
                    "-subj",
                    "/CN=expired.invalid",
                ],
            ]
            .concat(),
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "expired.csr",
                "-signkey",
                "expired.key",
                "-days",
                "-1",
                "-out",
                "expired.pem",
            ],
        );
        openssl(
            d,
            &[
                &["req", "-x509", "-nodes"][..],
                &ec,
                &[
                    "-keyout",
                    "sni.key",
                    "-out",
                    "sni.pem",
                    "-subj",
                    "/CN=www.sni.test",
                    "-days",
                    "30",
                ],
            ]
            .concat(),
        );
        openssl(
            d,
            &[
                &["req", "-x509", "-nodes"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-subj",
                    "/CN=lvsd test CA",
                    "-days",
                    "30",
                ],
            ]
            .concat(),
        );
        openssl(
            d,
            &[
                &["req", "-new", "-nodes"][..],
                &ec,
                &[
                    "-keyout",
                    "client.key",
                    "-out",
                    "client.csr",
                    "-subj",
                    "/CN=lvsd",
                ],
            ]
            .concat(),
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-out",
                "client.pem",
            ],
        );
        openssl(
            d,
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-in",
                "client.key",
                "-out",
                "client-enc.key",
                "-passout",
                "pass:s3cret",
            ],
        );
        openssl(
            d,
            &[
                "ec",
                "-in",
                "client.key",
                "-aes256",
                "-out",
                "client-legacy.key",
                "-passout",
                "pass:s3cret",
            ],
        );
        Certs { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An `SSL { certificate key [password] }` block for the client certificate.
    pub fn ssl_block(&self, key: &str, password: Option<&str>) -> String {
        let password = password
            .map(|p| format!("  password {p}\n"))
            .unwrap_or_default();
        format!(
            "SSL {{\n{password}  certificate {}\n  key {}\n}}\n",
            self.path("client.pem").display(),
            self.path(key).display()
        )
    }
}

/// An `openssl s_server -www` on 127.0.0.1 (or in a namespace), killed on drop.
pub struct SServer {
    child: Child,
    /// close_notify alerts received (counted when started with `-msg`).
    pub close_notifies: Arc<AtomicU64>,
    pub port: u16,
    /// The address it listens on.
    pub ip: String,
}

impl SServer {
    /// `s_server -www` on 127.0.0.1 with `cert`/`key` of `certs` and `extra` options.
    pub fn start(certs: &Certs, cert: &str, key: &str, extra: &[&str]) -> SServer {
        SServer::start_in(None, "127.0.0.1", free_port(), certs, cert, key, extra)
    }

    /// The same in namespace `ns` (if any), on `ip`:`port`.
    pub fn start_in(
        ns: Option<&str>,
        ip: &str,
        port: u16,
        certs: &Certs,
        cert: &str,
        key: &str,
        extra: &[&str],
    ) -> SServer {
        let accept = format!("{ip}:{port}");
        let mut command = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "openssl"]);
                c
            }
            None => Command::new("openssl"),
        };
        command
            .args([
                "s_server", "-www", "-accept", &accept, "-cert", cert, "-key", key,
            ])
            .args(extra)
            .current_dir(certs.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("start openssl s_server");
        // It prints ACCEPT once it listens; its output is read to the end
        // (so it never blocks on a full pipe).
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let close_notifies = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&close_notifies);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("ACCEPT") {
                    let _ = tx.send(());
                }
                if line.starts_with("<<<") && line.contains("close_notify") {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("s_server listening");
        SServer {
            child,
            close_notifies,
            port,
            ip: ip.to_owned(),
        }
    }

    /// The status page's counters: (handshakes that finished, sessions
    /// resumed), as `s_server -www` keeps them. Fetched with `s_client`,
    /// whose own handshake (a full one) is counted too.
    pub fn handshake_counts(&self, ns: Option<&str>) -> (u64, u64) {
        let mut command = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "openssl"]);
                c
            }
            None => Command::new("openssl"),
        };
        let mut child = command
            .args([
                "s_client",
                "-quiet",
                "-connect",
                &format!("{}:{}", self.ip, self.port),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_client");
        use std::io::Write;
        child
            .stdin
            .as_mut()
            .expect("stdin")
            .write_all(b"GET / HTTP/1.0\r\n\r\n")
            .expect("request");
        let mut page = String::new();
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        while out.read_line(&mut line).unwrap_or(0) > 0 {
            page.push_str(&line);
            if line.contains("</HTML>") {
                break;
            }
            line.clear();
        }
        let _ = child.kill();
        let _ = child.wait();
        let count = |what: &str| {
            page.lines()
                .find(|l| l.trim_end().ends_with(what))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {what:?} in the status page:\n{page}"))
        };
        (
            count("server accepts that finished"),
            count("session cache hits"),
        )
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now (the kernel's pick).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Loads a keepalived.conf written to a file of `certs`' directory.
pub fn load(certs: &Certs, text: &str) -> Result<lvsd::config::Loaded, ConfigError> {
    let path = certs.path("keepalived.conf");
    std::fs::write(&path, text).expect("write config");
    load_bytes(&path, text.as_bytes().to_vec(), &LoadOptions::default())
}

/// A config with one `SSL_GET` of `ip`:`port` whose block holds `body`
/// (plus `connect_timeout 2`), after `before` (an `SSL` block…).
pub fn config(before: &str, ip: &str, port: u16, body: &str) -> String {
    format!(
        "{before}virtual_server 10.0.0.1 443 {{\n  protocol TCP\n  real_server {ip} {port} {{\n    SSL_GET {{\n      connect_timeout 2\n{body}\n    }}\n  }}\n}}\n"
    )
}

/// The first check of the config's first real server.
pub fn first_check(loaded: &lvsd::config::Loaded) -> Check {
    (*loaded.config.virtual_servers[0].real_servers[0].checks[0]).clone()
}

/// The `SSL_GET` of `config(before, ip, port, body)`.
pub fn ssl_get(certs: &Certs, before: &str, ip: &str, port: u16, body: &str) -> Check {
    let loaded = load(certs, &config(before, ip, port, body)).unwrap_or_else(|e| panic!("{e}"));
    first_check(&loaded)
}

/// `url { path / }`, with `status_code CODE` if given.
pub fn url(status: Option<u16>) -> String {
    let status = status
        .map(|s| format!("        status_code {s}\n"))
        .unwrap_or_default();
    format!("      url {{\n        path /\n{status}      }}")
}
