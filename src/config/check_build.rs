//! The second phase of a checker block: from what was read of it
//! ([`super::checks`]) to its checks, with what the real and virtual
//! server passed down and keepalived's defaults for the checker's type.
//! A block makes one check; an `SMTP_CHECK` one a `host`; an unusable
//! block none (its error said why).

use std::net::IpAddr;
use std::sync::Arc;

use super::bfd_instance;
use super::block::{Tok, Tree};
use super::check_memo::OwnTarget;
use super::checks::{Connection, Reading};
use super::inherit::{Inherited, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DELAY_LOOP};
use super::keywords::CheckKw;
use super::typer::Typer;
use super::{
    Binding, Check, CheckCommon, DnsCheck, FileCheck, HttpCheck, Location, MiscCheck, PingCheck,
    SmtpCheck, TcpCheck, Timer, TlsOptions, DEFAULT_HELO_NAME,
};

/// The block being made into checks: its type, where it starts, and the
/// real server (address, port) it checks.
#[derive(Clone, Copy)]
pub(super) struct Site {
    pub kind: CheckKw,
    pub location: Location,
    pub target: (IpAddr, u16),
}

impl Site {
    /// The common settings of a check of this block over `conn`.
    fn common(&self, conn: &Connection, inherited: &Inherited) -> CheckCommon {
        let (addr, port) = self.target;
        resolve(self.kind, self.location, conn, inherited, addr, port)
    }
}

impl Typer<'_> {
    /// Add the checks of block `node`, read into `r`, to `out`.
    /// `clean` says whether reading it raised no diagnostic (a TCP_CHECK's
    /// reading is then remembered, see [`super::check_memo`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn build_checks(
        &mut self,
        tree: &Tree<'_>,
        node: u32,
        site: Site,
        rs: &Inherited,
        mut r: Reading,
        clean: bool,
        out: &mut Vec<Arc<Check>>,
    ) {
        let kw = tree.keyword(node);
        let check = match site.kind {
            // The common case, without copying the location.
            CheckKw::Tcp => {
                let common = site.common(&r.conn, &r.inherited);
                if clean {
                    let own = OwnTarget {
                        ip: r.conn.connect_ip.is_some(),
                        port: r.conn.connect_port.is_some(),
                    };
                    self.check_memo.remember(tree, node, rs, &common, own);
                }
                Some(Check::Tcp(TcpCheck { common }))
            }
            CheckKw::HttpGet | CheckKw::SslGet => Some(self.http_check(kw, site, rs, &mut r)),
            CheckKw::Misc => self.misc_check(kw, site, &mut r),
            CheckKw::Smtp => {
                self.smtp_checks(site, rs, &mut r, out);
                None
            }
            CheckKw::File => self.file_check(kw, site, &mut r),
            CheckKw::Dns => {
                let x = r.take_extra();
                Some(Check::Dns(Box::new(DnsCheck {
                    common: site.common(&r.conn, &r.inherited),
                    query_type: x.dns_type.unwrap_or_default(),
                    name: x.dns_name.unwrap_or_default(),
                })))
            }
            CheckKw::Udp => {
                let x = r.take_extra();
                self.udp_finish(tree, node, &x.udp);
                let common = site.common(&r.conn, &r.inherited);
                Some(Check::Udp(Box::new(x.udp.into_check(common))))
            }
            CheckKw::Ping => Some(Check::Ping(Box::new(PingCheck {
                common: site.common(&r.conn, &r.inherited),
            }))),
            CheckKw::Bfd => self.bfd_check(kw, site, &mut r, out),
        };
        out.extend(check.map(Arc::new));
    }

    /// `HTTP_GET` / `SSL_GET`: its urls, virtualhost and TLS options.
    fn http_check(&mut self, kw: &Tok<'_>, site: Site, rs: &Inherited, r: &mut Reading) -> Check {
        let mut x = r.take_extra();
        if x.urls.is_empty() {
            self.warning(
                kw,
                format!(
                    "{} has no `url {{ path ... }}`: it cannot check anything",
                    kw.text
                ),
            );
        }
        let tls = site.kind == CheckKw::SslGet;
        let own_vhost = r.inherited.virtualhost.take();
        // SNI skips the real server's virtualhost (keepalived's order).
        let tls_options = match tls && x.enable_sni {
            true => TlsOptions {
                enable_sni: true,
                sni_name: x.sni_name.take(),
                sni_virtualhost: own_vhost.clone().or_else(|| self.vs_virtualhost.clone()),
                client: None,
            },
            false => TlsOptions::default(),
        };
        let vhost = own_vhost.or_else(|| rs.virtualhost.clone());
        Check::Http(Box::new(HttpCheck {
            common: site.common(&r.conn, &r.inherited),
            tls,
            urls: std::mem::take(&mut x.urls),
            virtualhost: vhost,
            protocol: x.http_protocol,
            fast_recovery: x.fast_recovery,
            tls_options,
        }))
    }

    /// `MISC_CHECK`: none without `misc_path`.
    fn misc_check(&mut self, kw: &Tok<'_>, site: Site, r: &mut Reading) -> Option<Check> {
        let x = r.take_extra();
        let Some(path) = x.misc_path else {
            self.error(kw, "MISC_CHECK needs `misc_path COMMAND`");
            return None;
        };
        Some(Check::Misc(Box::new(MiscCheck {
            common: site.common(&r.conn, &r.inherited),
            path,
            timeout: x.misc_timeout,
            dynamic: x.misc_dynamic,
            user: x.user.map(Box::new),
        })))
    }

    /// `SMTP_CHECK`: one check for the checker's own target, one for each
    /// `host`, into `out`.
    fn smtp_checks(
        &mut self,
        site: Site,
        rs: &Inherited,
        r: &mut Reading,
        out: &mut Vec<Arc<Check>>,
    ) {
        let mut x = r.take_extra();
        // keepalived 2.2.7: the checker probes its own target (the real
        // server, or its connect_ip/port) when it sets a connection option
        // or connect_timeout itself, or has no `host`; else the first
        // `host` is the checker. Every other `host` is one more checker,
        // with the host's own connection only (nothing merged from the
        // checker).
        let mut conns = Vec::with_capacity(1 + x.hosts.len());
        if r.conn.is_set() || x.hosts.is_empty() {
            conns.push(r.conn.clone());
        }
        // A host without its own connect_timeout gets the real server's
        // (else the virtual server's, else 5 s). keepalived 2.2.7 gives it
        // 0 (it times out at once): see docs/differences.md.
        let host_timeout = rs.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        conns.extend(x.hosts.drain(..).map(|mut h| {
            h.connect_timeout = h.connect_timeout.or(Some(host_timeout));
            h
        }));
        let helo_name = x.helo_name.unwrap_or_else(|| DEFAULT_HELO_NAME.into());
        out.extend(conns.iter().map(|c| {
            Arc::new(Check::Smtp(Box::new(SmtpCheck {
                common: site.common(c, &r.inherited),
                helo_name: helo_name.clone(),
            })))
        }));
    }

    /// `FILE_CHECK`: none without a known `track_file`.
    fn file_check(&mut self, kw: &Tok<'_>, site: Site, r: &mut Reading) -> Option<Check> {
        let x = r.take_extra();
        let Some(file) = x.track_file else {
            if !x.track_file_named {
                self.error(kw, "FILE_CHECK needs `track_file NAME`");
            }
            return None;
        };
        let (weight, reverse) = x.file_weight.unwrap_or((file.weight, file.reverse));
        // Nothing of the real server: equal checks of one file are one probe.
        let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        Some(Check::File(Box::new(FileCheck {
            common: CheckCommon {
                location: site.location,
                warmup: Timer::from_secs(0),
                retry: 0,
                ..CheckCommon::new(unspecified, 0)
            },
            track_file: file.name,
            path: file.path,
            weight,
            reverse,
        })))
    }

    /// `BFD_CHECK`: none without a known instance, or for an instance this
    /// real server (its checks so far, `out`) follows already.
    fn bfd_check(
        &mut self,
        kw: &Tok<'_>,
        site: Site,
        r: &mut Reading,
        out: &[Arc<Check>],
    ) -> Option<Check> {
        let x = r.take_extra();
        let Some(instance) = x.bfd else {
            if !x.bfd_named {
                self.error(kw, "BFD_CHECK needs `name BFD_INSTANCE`");
            }
            return None;
        };
        // keepalived: an RS may not track one instance twice.
        let tracked = out
            .iter()
            .any(|c| matches!(&**c, Check::Bfd(b) if b.instance.name == instance.name));
        if tracked {
            // keepalived -t fails on it (and runs without it).
            self.error(
                kw,
                format!(
                    "this real server follows bfd_instance `{}` already \
                     (keepalived ignores this BFD_CHECK)",
                    instance.name
                ),
            );
            return None;
        }
        let alpha = r.inherited.alpha.unwrap_or(false);
        Some(Check::Bfd(Box::new(bfd_instance::bfd_check(
            site.location,
            alpha,
            instance,
        ))))
    }
}

/// Fill a checker's settings with what was inherited and keepalived's
/// defaults for its type.
fn resolve(
    kind: CheckKw,
    location: Location,
    conn: &Connection,
    inh: &Inherited,
    addr: IpAddr,
    port: u16,
) -> CheckCommon {
    let delay_loop = inh.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP);
    let (retry, delay_before_retry) = match kind {
        CheckKw::Misc => (0, Timer::from_secs(1)),
        CheckKw::Dns => (3, delay_loop),
        CheckKw::HttpGet | CheckKw::SslGet => (1, Timer::from_secs(3)),
        _ => (1, Timer::from_secs(1)),
    };
    CheckCommon {
        location,
        connect_ip: conn.connect_ip.unwrap_or(addr),
        connect_port: conn.connect_port.unwrap_or(port),
        binding: Binding {
            bindto: conn.bindto,
            bind_port: conn.bind_port,
            bind_if: conn.bind_if.clone(),
            fwmark: conn.fwmark,
        }
        .boxed(),
        connect_timeout: conn
            .connect_timeout
            .or(inh.connect_timeout)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        delay_loop,
        retry: inh.retry.unwrap_or(retry),
        delay_before_retry: inh.delay_before_retry.unwrap_or(delay_before_retry),
        warmup: inh.warmup.unwrap_or(delay_loop),
        alpha: inh.alpha.unwrap_or(false),
        close: conn.close,
    }
}
