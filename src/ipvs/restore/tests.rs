use super::*;

fn op(line: &str) -> TableOp {
    match parse_line(line).unwrap().unwrap() {
        RestoreLine::Op(op) => op,
        RestoreLine::Flush => panic!("flush"),
    }
}

#[test]
fn service_defaults_follow_ipvsadm() {
    let TableOp::AddService(s) = op("-A -t 10.0.0.1:80") else {
        panic!()
    };
    assert_eq!(s.scheduler, "wlc");
    assert_eq!(s.netmask, 0xffff_ffff);
    assert_eq!((s.timeout, s.flags.0), (0, 0));
    let TableOp::AddService(s) = op("-A -u [::1]:53 -p -o") else {
        panic!()
    };
    assert_eq!((s.timeout, s.netmask), (360, 128));
    assert_eq!(
        s.flags.0,
        ServiceFlags::PERSISTENT | ServiceFlags::ONEPACKET
    );
    let TableOp::AddService(s) = op("-A -f 7 -6 -s sh -b sh-fallback,sh-port -p 20 -M 64") else {
        panic!()
    };
    assert_eq!(
        s.key,
        ServiceKey::Fwmark {
            family: Family::Inet6,
            mark: 7
        }
    );
    assert_eq!(
        s.flags.0,
        ServiceFlags::PERSISTENT | ServiceFlags::SCHED1 | ServiceFlags::SCHED2
    );
    assert_eq!(s.netmask, 64);
}

#[test]
fn real_server_port_follows_ipvsadm() {
    let TableOp::AddDest(_, d) = op("-a -t 10.0.0.1:80 -r 10.0.1.1:9000 -g") else {
        panic!()
    };
    assert_eq!((d.key.port, d.weight, d.fwd), (80, 1, ForwardMethod::Route));
    let TableOp::AddDest(_, d) = op("-a -t 10.0.0.1:80 -r 10.0.1.1 -m -w 0 -x 9 -y 3") else {
        panic!()
    };
    assert_eq!(
        (d.key.port, d.weight, d.u_threshold, d.l_threshold),
        (80, 0, 9, 3)
    );
    let TableOp::AddDest(_, d) =
        op("-a -t 10.0.0.1:80 -r 2001:db8::2 -i --tun-type gue --tun-port 99 --tun-remcsum")
    else {
        panic!()
    };
    assert_eq!(
        d.tunnel,
        Tunnel {
            kind: TunnelType::Gue,
            port: 99,
            flags: 2
        }
    );
    let TableOp::RemoveDest(_, k) = op("-d -f 3 -r 10.0.1.1") else {
        panic!()
    };
    assert_eq!(k.port, 0);
}

#[test]
fn bad_lines_are_refused_with_their_line_number() {
    for bad in [
        "-A -t 10.0.0.1:0 -s rr",
        "-A -t 10.0.0.1:80 -o",
        "-a -t 10.0.0.1:80 -r 2001:db8::1 -m",
        "-a -t 10.0.0.1:80 -r 10.0.0.2 -m --tun-type gue",
        "-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue",
        "-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gre --tun-remcsum",
        "-A -t nowhere:80",
        "-A -t 10.0.0.1:80 --bogus",
        "-t 10.0.0.1:80",
        "-A -u [::1]:53 -M 129",
        "-A -t 10.0.0.1:80 -s rr -b sh-port",
        "-A -t 10.0.0.1:80 -b mh-fallback",
        "-A -t 10.0.0.1:80 -s sh -b sh-nothing",
    ] {
        let err = parse(&format!("-A -t 10.9.9.9:1\n{bad}\n")).unwrap_err();
        assert_eq!(err.line, 2, "{bad}: {err}");
    }
    assert_eq!(
        parse("# comment\n\n-C\n").unwrap(),
        vec![RestoreLine::Flush]
    );
}
