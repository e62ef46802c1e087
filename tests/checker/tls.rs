//! `SSL_GET` against real TLS servers (`openssl s_server -www` on
//! loopback, or in a network namespace for the RST counts): what passes as
//! in keepalived (any certificate, TLS 1.2 and 1.3, a client certificate
//! when asked), what fails (no client certificate, a stalled handshake,
//! within `connect_timeout`), sessions resumed, and closes without resets.
//! The config side too: the `SSL` block's files and SNI's order of names.

use crate::checker_support;
use crate::tls_support;

use std::time::{Duration, Instant};

use checker_support::{NetPair, BACKEND};
use lvsd::checker::probe;
use lvsd::config::{Check, Url};
use tls_support::{config, first_check, have_openssl, load, ssl_get, url, Certs, SServer};

async fn probe_ok(check: &Check) -> (bool, String) {
    let r = probe::attempt(check).await;
    (r.ok, r.reason.into_owned())
}

/// Like keepalived: a self-signed certificate for another name, an expired
/// one, TLS 1.2 only and TLS 1.3 only all pass.
#[tokio::test]
async fn any_certificate_and_both_versions_pass() {
    if !have_openssl() {
        return;
    }
    let certs = Certs::new();
    for (cert, key, extra, version) in [
        ("self.pem", "self.key", &[][..], "TLSv1_3"),
        ("expired.pem", "expired.key", &[][..], "TLSv1_3"),
        ("self.pem", "self.key", &["-tls1_2"][..], "TLSv1_2"),
        ("expired.pem", "expired.key", &["-tls1_3"][..], "TLSv1_3"),
    ] {
        let server = SServer::start(&certs, cert, key, extra);
        let check = ssl_get(&certs, "", "127.0.0.1", server.port, &url(None));
        // The version really is the one the server allows (a first
        // handshake with this target: a full one).
        let Check::Http(http) = &check else { panic!() };
        let first = lvsd::checker::http::attempt(http, 0).await;
        assert!(first.passed, "{cert} {extra:?}: {}", first.reason);
        let tls = first.tls.expect("the handshake finished");
        assert_eq!(format!("{:?}", tls.version.unwrap()), version);
        // X25519, as OpenSSL's clients (keepalived) offer first: ring's
        // P-384, rustls's first choice, costs many times more CPU.
        assert!(!tls.resumed);
        assert_eq!(tls.key_exchange, Some(rustls::NamedGroup::X25519));
        // s_server serves one connection at a time: let this one's close run.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (ok, reason) = probe_ok(&check).await;
        assert!(ok, "{cert} {extra:?}: {reason}");
        // A status the server does not give fails, after the handshake.
        let wrong = ssl_get(&certs, "", "127.0.0.1", server.port, &url(Some(404)));
        let (ok, reason) = probe_ok(&wrong).await;
        assert!(!ok && reason.contains("status code error: 200"), "{reason}");
    }
}

/// A server that requires a client certificate: refused without one,
/// passes with the `SSL` block's, plain or encrypted with `password`.
#[tokio::test]
async fn client_certificate_when_the_server_requires_one() {
    if !have_openssl() {
        return;
    }
    let certs = Certs::new();
    let server = SServer::start(
        &certs,
        "self.pem",
        "self.key",
        &["-Verify", "1", "-CAfile", "ca.pem"],
    );
    let port = server.port;
    let none = ssl_get(&certs, "", "127.0.0.1", port, &url(None));
    let (ok, reason) = probe_ok(&none).await;
    assert!(!ok, "{reason}");
    for block in [
        certs.ssl_block("client.key", None),
        certs.ssl_block("client-enc.key", Some("s3cret")),
    ] {
        // The SSL block after the virtual server: it counts all the same.
        let loaded = load(
            &certs,
            &(config("", "127.0.0.1", port, &url(None)) + &block),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let check = first_check(&loaded);
        let Check::Http(http) = &check else { panic!() };
        assert!(http.tls_options.client.is_some());
        assert_eq!(probe_ok(&check).await, (true, "URL passed".into()));
    }
    // Also over TLS 1.2, where the certificate goes in the handshake itself.
    let server12 = SServer::start(
        &certs,
        "self.pem",
        "self.key",
        &["-Verify", "1", "-CAfile", "ca.pem", "-tls1_2"],
    );
    let block = certs.ssl_block("client.key", None);
    assert!(
        !probe_ok(&ssl_get(&certs, "", "127.0.0.1", server12.port, &url(None)))
            .await
            .0
    );
    assert!(
        probe_ok(&ssl_get(
            &certs,
            &block,
            "127.0.0.1",
            server12.port,
            &url(None)
        ))
        .await
        .0
    );
}

/// A listener that accepts and never answers the ClientHello: the probe
/// fails once `connect_timeout` (connect and handshake together) is spent.
#[tokio::test]
async fn a_stalled_handshake_is_bounded_by_connect_timeout() {
    if !have_openssl() {
        return;
    }
    let certs = Certs::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = format!("      connect_timeout 1\n{}", url(None));
    let check = ssl_get(&certs, "", "127.0.0.1", port, &body);
    let started = Instant::now();
    let (ok, reason) = probe_ok(&check).await;
    let took = started.elapsed();
    assert!(!ok, "{reason}");
    assert!(reason.contains("within 1 s"), "{reason}");
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    drop(listener);
}

/// 100 probes of one backend cost it at most 10 full handshakes (keepalived:
/// 100), counted by the backend itself; with SNI off (sessions filed under
/// the address) and on, over TLS 1.3 (tickets) and TLS 1.2.
#[tokio::test]
async fn sessions_are_resumed_per_target() {
    if !have_openssl() {
        return;
    }
    let certs = Certs::new();
    for (extra, sni) in [(&[][..], false), (&["-tls1_2"][..], false), (&[][..], true)] {
        let server = SServer::start(&certs, "self.pem", "self.key", extra);
        let body = match sni {
            true => format!(
                "      enable_sni\n      virtualhost www.sni.test\n{}",
                url(None)
            ),
            false => url(None),
        };
        let check = ssl_get(&certs, "", "127.0.0.1", server.port, &body);
        for _ in 0..100 {
            assert!(probe_ok(&check).await.0);
        }
        // Let the last probe's close run (s_server serves one at a time).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (finished, resumed) = server.handshake_counts(None);
        // The status page's own connection is one full handshake more.
        let full = finished - resumed - 1;
        eprintln!("{extra:?} sni {sni}: {full} full handshakes in 100 probes (keepalived: 100)");
        assert_eq!(finished, 101, "{extra:?} sni {sni}");
        assert!(
            full <= 10,
            "{full} full handshakes in 100 probes ({extra:?}, sni {sni})"
        );
    }
}

/// SNI only with `enable_sni`/`sni_name`, and then the right name: a
/// server that answers a name other than www.sni.test with a fatal alert.
#[tokio::test]
async fn sni_is_sent_only_when_asked_and_by_keepalived_order() {
    if !have_openssl() {
        return;
    }
    let certs = Certs::new();
    let server = SServer::start(
        &certs,
        "self.pem",
        "self.key",
        &[
            "-servername",
            "www.sni.test",
            "-servername_fatal",
            "-cert2",
            "sni.pem",
            "-key2",
            "sni.key",
        ],
    );
    let port = server.port;
    let probe_with = |body: &str| {
        ssl_get(
            &certs,
            "",
            "127.0.0.1",
            port,
            &format!("{body}\n{}", url(None)),
        )
    };
    // No SNI at all: nothing to mismatch.
    assert!(
        probe_ok(&probe_with("      virtualhost wrong.test"))
            .await
            .0
    );
    assert!(
        probe_ok(&probe_with(
            "      enable_sni\n      virtualhost www.sni.test"
        ))
        .await
        .0
    );
    assert!(
        !probe_ok(&probe_with(
            "      enable_sni\n      virtualhost wrong.test"
        ))
        .await
        .0
    );
    // sni_name comes first, and implies enable_sni.
    assert!(
        probe_ok(&probe_with(
            "      sni_name www.sni.test\n      virtualhost wrong.test"
        ))
        .await
        .0
    );
    assert!(
        !probe_ok(&probe_with(
            "      sni_name wrong.test\n      virtualhost www.sni.test"
        ))
        .await
        .0
    );
}

/// keepalived's order of SNI names: sni_name, the URL's virtualhost, the
/// checker's, the virtual server's; never the real server's.
#[test]
fn sni_names_follow_keepalived_order() {
    if !have_openssl() {
        return;
    }
    let certs = Certs::new();
    let text = |vs: &str, rs: &str, check: &str, url: &str| {
        format!(
            "virtual_server 10.0.0.1 443 {{\n  protocol TCP\n{vs}  real_server 10.0.0.2 443 {{\n{rs}    SSL_GET {{\n      enable_sni\n{check}      url {{\n        path /\n{url}      }}\n    }}\n  }}\n}}\n"
        )
    };
    let sni = |t: String| {
        let loaded = load(&certs, &t).unwrap_or_else(|e| panic!("{e}"));
        let Check::Http(h) = first_check(&loaded) else {
            panic!()
        };
        let url: &Url = &h.urls[0];
        h.tls_options.sni(url).map(str::to_owned)
    };
    let (vs, rs) = ("  virtualhost vs.test\n", "    virtualhost rs.test\n");
    let (ck, u) = (
        "      virtualhost check.test\n",
        "        virtualhost url.test\n",
    );
    let name = "      sni_name name.test\n";
    assert_eq!(
        sni(text(vs, rs, &format!("{ck}{name}"), u)).as_deref(),
        Some("name.test")
    );
    assert_eq!(sni(text(vs, rs, ck, u)).as_deref(), Some("url.test"));
    assert_eq!(sni(text(vs, rs, ck, "")).as_deref(), Some("check.test"));
    assert_eq!(sni(text(vs, rs, "", "")).as_deref(), Some("vs.test"));
    assert_eq!(sni(text("", rs, "", "")), None);
    // The Host header still falls back to the real server's.
    let loaded = load(&certs, &text("", rs, "", "")).unwrap();
    let Check::Http(h) = first_check(&loaded) else {
        panic!()
    };
    assert_eq!(h.virtualhost.as_deref(), Some("rs.test"));
}

/// The `SSL` block's files are read with the config: what cannot be read,
/// decrypted or used is an error at the line naming it.
#[test]
fn ssl_block_errors_name_their_line() {
    if !have_openssl() {
        return;
    }
    let certs = Certs::new();
    let body = url(None);
    let error = |block: String| {
        let err = load(&certs, &config(&block, "127.0.0.1", 443, &body))
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{block}"));
        err.to_string()
    };
    let at = |line: u32, col: u32| format!("keepalived.conf:{line}:{col}");
    let missing =
        error("SSL {\n  certificate /nonexistent/c.pem\n  key /nonexistent/k.pem\n}\n".into());
    assert!(
        missing.contains(&at(2, 15)) && missing.contains("cannot read /nonexistent/c.pem"),
        "{missing}"
    );
    assert!(missing.contains(&at(3, 7)), "{missing}");
    let no_password = error(certs.ssl_block("client-enc.key", None));
    assert!(
        no_password.contains(&at(3, 7)) && no_password.contains("`password` is needed"),
        "{no_password}"
    );
    let wrong = error(certs.ssl_block("client-enc.key", Some("wrong")));
    assert!(
        wrong.contains(&at(4, 7)) && wrong.contains("cannot decrypt"),
        "{wrong}"
    );
    let legacy = error(certs.ssl_block("client-legacy.key", Some("s3cret")));
    assert!(legacy.contains("openssl pkcs8 -topk8"), "{legacy}");
    let mismatch = error(certs.ssl_block("self.key", None));
    assert!(
        mismatch.contains(&at(3, 7)) && mismatch.contains("cannot be used with"),
        "{mismatch}"
    );
    let not_a_key = error(certs.ssl_block("client.pem", None));
    assert!(not_a_key.contains("no PEM private key"), "{not_a_key}");
    let alone = error(format!(
        "SSL {{\n  certificate {}\n}}\n",
        certs.path("client.pem").display()
    ));
    assert!(
        alone.contains(&at(2, 3)) && alone.contains("needs `key FILE`"),
        "{alone}"
    );
    let ca = error("SSL {\n  ca /nonexistent/ca.pem\n}\n".into());
    assert!(ca.contains(&at(2, 6)), "{ca}");
    // The good ones load; tls_compliant is accepted at both levels.
    let good = certs.ssl_block("client-enc.key", Some("s3cret"));
    let text = config(
        &good,
        "127.0.0.1",
        443,
        &format!("      tls_compliant\n{body}"),
    );
    let loaded = load(
        &certs,
        &text.replace("path /\n", "path /\n        tls_compliant\n"),
    );
    assert!(loaded.is_ok(), "{:?}", loaded.err().map(|e| e.to_string()));
}

/// Over many probes, passing and failing (a status the backend does not
/// give), every probe sends close_notify (the backends count them) and its
/// FIN, and no connection ends with a reset on either side.
#[test]
fn no_resets_over_many_probes_passing_and_failing() {
    if !have_openssl() || !checker_support::can_use_netns() {
        return;
    }
    let certs = Certs::new();
    let pair = NetPair::new("tls");
    let mut servers = Vec::new();
    for (port, extra) in [
        (8443u16, &["-msg"][..]),
        (8444, &["-msg", "-tls1_2"][..]),
        (8445, &["-Verify", "1", "-CAfile", "ca.pem"][..]),
        (8446, &["-Verify", "1", "-CAfile", "ca.pem", "-tls1_2"][..]),
    ] {
        servers.push(SServer::start_in(
            Some(&pair.backend),
            BACKEND,
            port,
            &certs,
            "self.pem",
            "self.key",
            extra,
        ));
    }
    let mut checks: Vec<Check> = [8443u16, 8444]
        .iter()
        .flat_map(|&port| {
            [
                ssl_get(&certs, "", BACKEND, port, &url(None)),
                ssl_get(&certs, "", BACKEND, port, &url(Some(404))),
            ]
        })
        .collect();
    // Refused for want of a client certificate: in the handshake (TLS
    // 1.2), or by an alert after it (TLS 1.3).
    for port in [8445u16, 8446] {
        checks.push(ssl_get(&certs, "", BACKEND, port, &url(None)));
    }
    let counters = || {
        (
            NetPair::tcp_counter(&pair.backend, "EstabResets"),
            NetPair::tcp_counter(&pair.backend, "OutRsts"),
            NetPair::tcp_counter(&pair.client, "OutRsts"),
        )
    };
    let before = counters();
    let verdicts = pair.client_run(move || async move {
        let mut verdicts = [0u32; 2];
        for _ in 0..50 {
            for check in &checks {
                verdicts[usize::from(probe::attempt(check).await.ok)] += 1;
            }
        }
        // Let the spawned closes finish.
        tokio::time::sleep(Duration::from_millis(300)).await;
        verdicts
    });
    assert_eq!(verdicts, [200, 100], "[failed, passed]");
    let notified: Vec<u64> = servers
        .iter()
        .map(|s| s.close_notifies.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    assert_eq!(notified[..2], [100, 100], "close_notify alerts received");
    let after = counters();
    assert_eq!(
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        (0, 0, 0),
        "(backend EstabResets, backend OutRsts, client OutRsts)"
    );
}

/// The engine's prober thread runs `SSL_GET` itself (`driver/web.rs`, the
/// same exchange as above): a pass, a status it does not give, a refused
/// client certificate and a stalled handshake are judged as one-off probes
/// judge them, and its sessions are resumed too.
#[tokio::test]
async fn the_prober_thread_judges_and_resumes_ssl_get() {
    use checker_support::{engine_probe_n, engine_probe_once};
    if !have_openssl() {
        return;
    }
    // No warmup: the first probe at once.
    let ssl_get = |certs: &Certs, port: u16, body: &str| {
        let mut check = ssl_get(certs, "", "127.0.0.1", port, body);
        if let Check::Http(h) = &mut check {
            h.common.warmup = Duration::ZERO.into();
        }
        check
    };
    let certs = Certs::new();
    let server = SServer::start(&certs, "self.pem", "self.key", &[]);
    let port = server.port;
    let r = engine_probe_once(ssl_get(&certs, port, &url(None))).await;
    assert!(r.ok, "{}", r.reason);
    let r = engine_probe_once(ssl_get(&certs, port, &url(Some(404)))).await;
    assert!(
        !r.ok && r.reason.contains("status code error: 200"),
        "{}",
        r.reason
    );
    let strict = SServer::start(
        &certs,
        "self.pem",
        "self.key",
        &["-Verify", "1", "-CAfile", "ca.pem", "-tls1_2"],
    );
    let r = engine_probe_once(ssl_get(&certs, strict.port, &url(None))).await;
    assert!(
        !r.ok && r.reason.contains("TLS handshake failed"),
        "{}",
        r.reason
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalled = listener.local_addr().unwrap().port();
    let body = format!("      connect_timeout 1\n{}", url(None));
    let r = engine_probe_once(ssl_get(&certs, stalled, &body)).await;
    assert!(
        !r.ok && r.reason.contains("TLS handshake not finished within 1 s"),
        "{}",
        r.reason
    );
    drop(listener);
    // Resumed: one more full handshake at most for five more probes.
    let (finished, resumed) = server.handshake_counts(None);
    let body = format!("      delay_loop 1\n{}", url(None));
    let check = ssl_get(&certs, port, &body);
    engine_probe_n(vec![lvsd::checker::ProbeSpec::new(&check)], 5).await;
    let (finished2, resumed2) = server.handshake_counts(None);
    // The status page's own connection is one full handshake more.
    let full = (finished2 - finished) - (resumed2 - resumed) - 1;
    assert!(finished2 - finished >= 6, "{finished} -> {finished2}");
    assert!(full <= 1, "{full} full handshakes in 5 probes");
}
