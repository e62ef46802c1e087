//! `--dry-run`: an in-memory table that prints every change as the
//! `ipvsadm` line that would make it, so an operator can watch lvsd work on a
//! machine without IPVS.

use std::io::Write;

use std::net::IpAddr;

use crate::ipvs::{
    Destination, ForwardMethod, IpvsError, IpvsTable, MemoryTable, Protocol, Service, ServiceEntry,
    ServiceFlags, ServiceKey, TableOp,
};

/// A [`MemoryTable`] that writes each successful change to `out`.
pub struct PrintingTable<W: Write> {
    table: MemoryTable,
    out: W,
}

impl<W: Write> PrintingTable<W> {
    /// An empty table printing to `out`.
    pub fn new(out: W) -> Self {
        PrintingTable {
            table: MemoryTable::new(),
            out,
        }
    }
}

impl<W: Write> IpvsTable for PrintingTable<W> {
    fn dump(&mut self) -> Result<Vec<ServiceEntry>, IpvsError> {
        self.table.dump()
    }

    fn apply_one(&mut self, op: &TableOp) -> Result<(), IpvsError> {
        self.table.apply_one(op)?;
        let _ = writeln!(self.out, "{}", op_line(op));
        let _ = self.out.flush();
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IpvsError> {
        self.table.flush()?;
        let _ = writeln!(self.out, "-C");
        Ok(())
    }
}

fn addr_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// `-t ADDR:PORT`, `-u ...`, `--sctp-service ...` or `-f MARK [-6]`.
pub fn service_spec(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let flag = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{flag} {}", addr_port(*addr, *port))
        }
        ServiceKey::Fwmark { family, mark } => match family {
            crate::ipvs::Family::Inet => format!("-f {mark}"),
            crate::ipvs::Family::Inet6 => format!("-f {mark} -6"),
        },
    }
}

fn service_options(s: &Service) -> String {
    let mut line = format!("{} -s {}", service_spec(&s.key), s.scheduler);
    let flags = s.flags.0;
    let mut sched_flags = Vec::new();
    if flags & ServiceFlags::SCHED1 != 0 {
        sched_flags.push("flag-1");
    }
    if flags & ServiceFlags::SCHED2 != 0 {
        sched_flags.push("flag-2");
    }
    if flags & ServiceFlags::SCHED3 != 0 {
        sched_flags.push("flag-3");
    }
    if !sched_flags.is_empty() {
        line.push_str(&format!(" -b {}", sched_flags.join(",")));
    }
    if flags & ServiceFlags::PERSISTENT != 0 {
        line.push_str(&format!(" -p {}", s.timeout));
        let default = match s.key.family() {
            crate::ipvs::Family::Inet => 0xffff_ffff,
            crate::ipvs::Family::Inet6 => 128,
        };
        if s.netmask != default {
            match s.key.family() {
                crate::ipvs::Family::Inet => {
                    line.push_str(&format!(" -M {}", std::net::Ipv4Addr::from(s.netmask)))
                }
                crate::ipvs::Family::Inet6 => line.push_str(&format!(" -M {}", s.netmask)),
            }
        }
        if let Some(pe) = &s.pe_name {
            line.push_str(&format!(" --pe {pe}"));
        }
    }
    if flags & ServiceFlags::ONEPACKET != 0 {
        line.push_str(" -o");
    }
    line
}

fn dest_options(key: &ServiceKey, d: &Destination) -> String {
    let method = match d.fwd {
        ForwardMethod::Masq => "-m",
        ForwardMethod::Route | ForwardMethod::Local | ForwardMethod::Bypass => "-g",
        ForwardMethod::Tunnel => "-i",
    };
    let mut line = format!(
        "{} -r {} {method} -w {}",
        service_spec(key),
        addr_port(d.key.addr, d.key.port),
        d.weight
    );
    if d.u_threshold != 0 {
        line.push_str(&format!(" -x {}", d.u_threshold));
    }
    if d.l_threshold != 0 {
        line.push_str(&format!(" -y {}", d.l_threshold));
    }
    line
}

/// The `ipvsadm` command line (without `ipvsadm`) that makes `op`.
pub fn op_line(op: &TableOp) -> String {
    match op {
        TableOp::AddService(s) => format!("-A {}", service_options(s)),
        TableOp::UpdateService(s) => format!("-E {}", service_options(s)),
        TableOp::RemoveService(k) => format!("-D {}", service_spec(k)),
        TableOp::AddDest(k, d) => format!("-a {}", dest_options(k, d)),
        TableOp::UpdateDest(k, d) => format!("-e {}", dest_options(k, d)),
        TableOp::RemoveDest(k, d) => {
            format!("-d {} -r {}", service_spec(k), addr_port(d.addr, d.port))
        }
    }
}
