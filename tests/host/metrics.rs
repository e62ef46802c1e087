//! `--metrics-listen` end to end, on loopback only: lvsd `--dry-run` probes
//! TCP backends on 127.0.0.1, its `/metrics` is scraped (by hand, by
//! `promtool check metrics`, and by a real Prometheus server started here in
//! its own temporary directory), and the series follow a backend that goes
//! away and comes back, and a reload that removes it.

use crate::checker_support;
use crate::metrics_support;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use checker_support::can_run;
use metrics_support::{free_port, get, lvsd, request, sample, wait_for, Killed};

/// A TCP backend on 127.0.0.1 that accepts and closes, until stopped
/// (then its port refuses).
struct Backend {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Backend {
    fn on(port: u16) -> Backend {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the backend");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Backend {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listening socket: connections are refused from now on.
    fn stop(mut self) -> u16 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.port
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A config with one virtual server and these real servers (TCP_CHECK,
/// every second, down at the first failure).
fn config(real_ports: &[u16]) -> String {
    let mut text = String::from(
        "virtual_server 127.0.0.1 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n",
    );
    for port in real_ports {
        text.push_str(&format!(
            "  real_server 127.0.0.1 {port} {{\n    weight 5\n    TCP_CHECK {{\n      connect_timeout 1\n      delay_loop 1\n      retry 0\n      warmup 0\n    }}\n  }}\n"
        ));
    }
    text.push_str("}\n");
    text
}

fn labels(rs_port: u16) -> String {
    format!(
        "local_address=\"127.0.0.1\",local_port=\"80\",remote_address=\"127.0.0.1\",remote_port=\"{rs_port}\",proto=\"TCP\",local_mark=\"\""
    )
}

fn scrape(port: u16) -> String {
    get(port, "/metrics", None).expect("/metrics answers").1
}

#[test]
fn series_follow_a_real_server_that_goes_down_and_a_reload_that_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::on(0);
    let other = Backend::on(0);
    let third = Backend::on(0);
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(&[backend.port, other.port, third.port])).unwrap();
    let port = free_port();
    let lvsd = lvsd(&conf, port);
    let rs = labels(backend.port);
    let up = format!("lvsd_real_server_up{{{rs}}}");
    let weight = format!("lvsd_real_server_weight{{{rs}}}");
    let to_down = format!("lvsd_real_server_transitions_total{{{rs},to=\"down\"}}");
    let checks = "lvsd_checks_total{check=\"tcp\",result=\"success\"}";
    wait_for(
        || sample(&scrape(port), checks).is_some_and(|n| n >= 2.0),
        "two passing TCP checks counted",
    );
    let before = scrape(port);
    assert_eq!(sample(&before, &up), Some(1.0), "{before}");
    assert_eq!(sample(&before, &weight), Some(5.0));
    assert_eq!(
        sample(
            &before,
            &format!("lvsd_real_server_configured_weight{{{rs}}}")
        ),
        Some(5.0)
    );
    assert_eq!(sample(&before, &to_down), Some(0.0));
    assert!(sample(&before, "process_resident_memory_bytes").is_some_and(|b| b > 1e6));
    assert!(sample(&before, "process_cpu_seconds_total").is_some());

    let gone = backend.stop();
    wait_for(
        || sample(&scrape(port), &up) == Some(0.0),
        "the real server down",
    );
    let after = scrape(port);
    assert_eq!(sample(&after, &to_down), Some(1.0), "{after}");
    assert_eq!(sample(&after, &weight), Some(0.0), "removed from the table");
    assert!(
        sample(
            &after,
            "lvsd_check_failures_total{check=\"tcp\",reason=\"refused\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "lvsd_ipvs_writes_total{op=\"del_dest\",result=\"success\"}"
        ),
        Some(1.0)
    );
    let vs = "local_address=\"127.0.0.1\",local_port=\"80\",proto=\"TCP\",local_mark=\"\"";
    assert_eq!(
        sample(
            &after,
            &format!("lvsd_virtual_server_real_servers_up{{{vs}}}")
        ),
        Some(2.0)
    );
    // OpenMetrics on request, ending with `# EOF`.
    let (code, om) = get(
        port,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .unwrap();
    assert_eq!(code, 200);
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert_eq!(sample(&om, &up), Some(0.0));

    // The other endpoints, and what is refused.
    let (code, status) = get(port, "/status", None).unwrap();
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&status).expect("/status is JSON");
    assert_eq!(status["real_servers"].as_array().map(Vec::len), Some(3));
    let (code, ready) = get(port, "/readyz", None).unwrap();
    assert_eq!(
        (code, ready.as_str()),
        (200, "ready: every probe has given a verdict\n")
    );
    assert_eq!(get(port, "/nothing", None).unwrap().0, 404);
    assert_eq!(request(port, "POST", "/metrics", None).unwrap().0, 405);

    let md5 = |text: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with("lvsd_config_info{"))
            .unwrap();
        line.split("md5=\"").nth(1).unwrap()[..32].to_owned()
    };
    let md5_before = md5(&after);
    // A reload without that real server (down, so out of the table) and
    // without `third` (up, so drained: the dry-run table has no
    // connections, and the drain completes at its first poll): their series
    // go with them.
    std::fs::write(&conf, config(&[other.port])).unwrap();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(lvsd.0.id() as libc::pid_t, libc::SIGHUP) };
    wait_for(
        || {
            sample(
                &scrape(port),
                "lvsd_config_reloads_total{result=\"success\"}",
            ) == Some(1.0)
        },
        "the reload counted",
    );
    let reloaded = scrape(port);
    assert!(
        !reloaded.contains(&format!("remote_port=\"{gone}\"")),
        "{reloaded}"
    );
    assert_eq!(
        sample(
            &reloaded,
            &format!("lvsd_real_server_up{{{}}}", labels(other.port))
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&reloaded, "lvsd_config_last_reload_successful"),
        Some(1.0)
    );
    assert_ne!(md5(&reloaded), md5_before, "the new config's hash");
    wait_for(
        || sample(&scrape(port), "lvsd_drains_total{result=\"completed\"}") == Some(1.0),
        "the drain of the removed real server counted",
    );
    let drained = scrape(port);
    assert_eq!(
        sample(&drained, "lvsd_drains_total{result=\"timed_out\"}"),
        None,
        "{drained}"
    );
    drop(third);
}

#[test]
fn promtool_finds_nothing_to_say_about_a_scrape() {
    let promtool = Command::new("promtool").arg("--version").output().is_ok();
    if !can_run(promtool, "needs promtool (Debian package prometheus)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::on(0);
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(&[backend.port, free_port()])).unwrap();
    let port = free_port();
    let _lvsd = lvsd(&conf, port);
    wait_for(
        || scrape(port).contains("lvsd_check_failures_total{"),
        "a failure counted",
    );
    let text = scrape(port);
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
}

/// A Prometheus server on 127.0.0.1 scraping lvsd every second, in `dir`.
fn prometheus(dir: &std::path::Path, lvsd_port: u16) -> (Killed, u16) {
    let yml = dir.join("prometheus.yml");
    std::fs::write(
        &yml,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: lvsd\n    static_configs:\n      - targets: ['127.0.0.1:{lvsd_port}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", yml.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let server = Killed(child);
    wait_for(
        || get(port, "/-/ready", None).is_some_and(|(code, _)| code == 200),
        "Prometheus ready",
    );
    (server, port)
}

/// The value Prometheus' query API gives for the instant query `promql`
/// (one series), if any.
fn query(port: u16, promql: &str) -> Option<f64> {
    let mut encoded = String::new();
    for b in promql.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => encoded.push(b as char),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    let (code, body) = get(port, &format!("/api/v1/query?query={encoded}"), None)?;
    assert_eq!(code, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = answer["data"]["result"].as_array()?;
    assert!(
        result.len() <= 1,
        "one series expected for {promql}: {body}"
    );
    result.first()?["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_sees_a_real_server_go_down_and_come_back() {
    let found = Command::new("prometheus").arg("--version").output().is_ok();
    if !can_run(
        found,
        "needs the Prometheus server (Debian package prometheus)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::on(0);
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(&[backend.port])).unwrap();
    let port = free_port();
    let _lvsd = lvsd(&conf, port);
    let (_prometheus, prom) = prometheus(dir.path(), port);
    let rs = format!("remote_port=\"{}\"", backend.port);
    let up = format!("lvsd_real_server_up{{{rs}}}");
    let wait_value = |promql: &str, want: f64| {
        wait_for(
            || query(prom, promql) == Some(want),
            &format!("{promql} = {want} in Prometheus"),
        );
    };
    wait_value("up{job=\"lvsd\"}", 1.0);
    wait_value(&up, 1.0);
    // node_exporter's labels are there, as it spells them.
    wait_value(
        "count(lvsd_real_server_weight{local_address=\"127.0.0.1\",local_port=\"80\",proto=\"TCP\",local_mark=\"\",remote_address=\"127.0.0.1\"})",
        1.0,
    );
    let rs_port = backend.stop();
    wait_value(&up, 0.0);
    wait_value(
        &format!("lvsd_real_server_transitions_total{{{rs},to=\"down\"}}"),
        1.0,
    );
    let _back = Backend::on(rs_port);
    wait_value(&up, 1.0);
    wait_value(
        &format!("lvsd_real_server_transitions_total{{{rs},to=\"up\"}}"),
        1.0,
    );
    wait_value(&format!("lvsd_real_server_weight{{{rs}}}"), 5.0);
    assert!(query(
        prom,
        "sum(lvsd_check_failures_total{check=\"tcp\",reason=\"refused\"})"
    )
    .is_some_and(|n| n >= 1.0));
}

#[test]
fn per_real_server_series_can_be_turned_off_for_large_tables() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::on(0);
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(&[backend.port])).unwrap();
    let port = free_port();
    let _lvsd = metrics_support::lvsd_with(&conf, Some(port), &["--metrics-per-real-server=false"]);
    let text = scrape(port);
    assert!(!text.contains("lvsd_real_server_up"), "{text}");
    let vs = "local_address=\"127.0.0.1\",local_port=\"80\",proto=\"TCP\",local_mark=\"\"";
    assert_eq!(
        sample(&text, &format!("lvsd_virtual_server_real_servers{{{vs}}}")),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn an_address_it_cannot_listen_on_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(&[free_port()])).unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["--dry-run", "--state-file", "/dev/null", "-f"])
        .arg(&conf)
        .arg(format!("--metrics-listen=127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--metrics-listen 127.0.0.1:{port}: cannot listen")),
        "{err}"
    );
}

#[test]
fn the_listener_is_bounded_and_survives_bad_requests() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(&[free_port()])).unwrap();
    let port = free_port();
    let _lvsd = lvsd(&conf, port);
    let status_of = |bytes: &[u8]| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(bytes);
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer)
            .get(9..12)
            .map(str::to_owned)
    };
    // Not HTTP: 400. A head over 8 kB: refused, never read whole.
    assert_eq!(status_of(b"HELLO\r\n\r\n").as_deref(), Some("400"));
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_ne!(status_of(huge.as_bytes()).as_deref(), Some("200"));
    assert_eq!(get(port, "/healthz", None).unwrap().0, 200);
    // 16 clients that never send a request take every slot: the next
    // connection is closed at once, until their heads time out (5 s).
    let idle: Vec<_> = (0..16)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get(port, "/healthz", None),
        None,
        "a 17th connection is closed"
    );
    wait_for(
        || get(port, "/healthz", None).is_some_and(|(code, _)| code == 200),
        "the idle connections timed out",
    );
    drop(idle);
}

#[test]
fn readyz_says_which_probes_have_not_given_a_first_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::on(0);
    let conf = dir.path().join("keepalived.conf");
    // A MISC_CHECK that takes 30 s gives no verdict within this test.
    let slow = "  real_server 127.0.0.2 80 {\n    MISC_CHECK {\n      misc_path \"/bin/sleep 30\"\n      misc_timeout 60\n    }\n  }\n}\n";
    let text = config(&[backend.port]);
    let text = text.strip_suffix("}\n").unwrap().to_owned() + slow;
    std::fs::write(&conf, &text).unwrap();
    let port = free_port();
    let _lvsd = lvsd(&conf, port);
    wait_for(
        || {
            sample(
                &scrape(port),
                "lvsd_checks_total{check=\"tcp\",result=\"success\"}",
            )
            .is_some_and(|n| n >= 1.0)
        },
        "a passing TCP check",
    );
    let (code, ready) = get(port, "/readyz", None).unwrap();
    assert_eq!(
        (code, ready.as_str()),
        (
            200,
            "ready: the table is written; 1 of 2 probes have not given their first verdict yet\n"
        ),
        "{text}"
    );
}

#[test]
fn readyz_says_starting_until_the_first_table_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    // 50,000 real servers on loopback addresses (refused at once when
    // probed): writing their table takes long enough to be seen.
    let mut text = String::from(
        "virtual_server 127.0.0.1 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n",
    );
    for i in 0..50_000u32 {
        text.push_str(&format!(
            "  real_server 127.1.{}.{} 80 {{\n    TCP_CHECK {{\n      delay_loop 60\n    }}\n  }}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    text.push_str("}\n");
    std::fs::write(&conf, text).unwrap();
    let port = free_port();
    let listen = format!("--metrics-listen=127.0.0.1:{port}");
    let _lvsd = metrics_support::lvsd_with(&conf, None, &[&listen]);
    let mut seen: Vec<(u16, String)> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.last().is_none_or(|(code, _)| *code != 200) {
        assert!(std::time::Instant::now() < deadline, "{seen:?}");
        match get(port, "/readyz", None) {
            Some(answer) if seen.last() != Some(&answer) => seen.push(answer),
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    assert_eq!(
        seen.first(),
        Some(&(
            503,
            "starting: the IPVS table is not written yet\n".to_owned()
        )),
        "{seen:?}"
    );
    assert!(
        seen.last()
            .is_some_and(|(_, text)| text.starts_with("ready: ")),
        "{seen:?}"
    );
}
