use super::*;
use crate::ipvs::restore::{parse, RestoreLine};
use crate::ipvs::{IpvsTable, MemoryTable};

fn table_of(lines: &str) -> Vec<ServiceEntry> {
    let mut t = MemoryTable::new();
    for l in parse(lines).unwrap() {
        if let RestoreLine::Op(op) = l {
            t.apply_one(&op).unwrap();
        }
    }
    t.dump().unwrap()
}

#[test]
fn inet_ntop6_matches_glibc() {
    let cases = [
        ("2001:db8::1", "2001:db8::1"),
        ("::", "::"),
        ("::1", "::1"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::1.2.3.4", "::1.2.3.4"),
        ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
        ("2001:0:0:1:0:0:1:1", "2001::1:0:0:1:1"),
        ("1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"),
        ("fe80::", "fe80::"),
    ];
    for (input, want) in cases {
        let a: Ipv6Addr = input.parse().unwrap();
        assert_eq!(inet_ntop6(&a), want, "{input}");
    }
}

#[test]
fn save_prints_every_field_as_ipvsadm() {
    let t = table_of(
        "-A -u [2001:db8::1]:53 -s sh -b sh-port -p 60 -M 64 -o\n\
         -a -u [2001:db8::1]:53 -r 10.0.2.2 -i --tun-type gue --tun-port 6080 --tun-csum\n\
         -A -t 10.0.0.1:80 -s rr\n\
         -a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 3 -x 10 -y 2\n\
         -A -f 7 -6 -s wlc\n\
         -A --sctp-service 10.0.0.9:99 -s mh -b mh-fallback -p 30 -M 255.255.0.0\n\
         -a --sctp-service 10.0.0.9:99 -r 10.1.1.2 -i --tun-type gre --tun-csum\n\
         -a --sctp-service 10.0.0.9:99 -r 10.1.1.1 -g\n",
    );
    assert_eq!(
        save(&t),
        "-A -t 10.0.0.1:80 -s rr\n\
         -a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 3\n\
         -A --sctp-service 10.0.0.9:99 -s mh -p 30 -M 255.255.0.0 -b mh-fallback\n\
         -a --sctp-service 10.0.0.9:99 -r 10.1.1.1:99 -g -w 1\n\
         -a --sctp-service 10.0.0.9:99 -r 10.1.1.2:99 -i -w 1 --tun-type gre --tun-csum\n\
         -A -u [2001:db8::1]:53 -s sh -p 60 -M 64 -o -b sh-port\n\
         -a -u [2001:db8::1]:53 -r 10.0.2.2:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n\
         -A -f 7 -6 -s wlc\n"
    );
}

#[test]
fn list_pads_columns_as_ipvsadm() {
    let t = table_of(
        "-A -t 10.0.0.1:80 -s sh -b sh-port -p 60\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 3\n",
    );
    let info = Info {
        version: 0x010201,
        conn_tab_size: 4096,
    };
    assert_eq!(
        list(&t, &info),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  10.0.0.1:80 sh (sh-port) persistent 60\n  \
         -> 10.0.1.1:80                  Masq    3      0          0         \n"
    );
}

#[test]
fn sort_keeps_ipvsadm_wrapping_comparison() {
    // 200.0.0.1 - 10.0.0.1 overflows a C int: ipvsadm sorts 200.x first.
    let t = table_of("-A -t 10.0.0.1:80 -s rr\n-A -t 200.0.0.1:80 -s rr\n");
    assert_eq!(
        save(&t),
        "-A -t 200.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr\n"
    );
    // Services: fwmark 0 (address services) first, then by family, protocol.
    let t = table_of(
        "-A -f 1 -s rr\n-A -u 1.1.1.1:1 -s rr\n-A -t [::2]:1 -s rr\n-A -t 1.1.1.1:1 -s rr\n",
    );
    assert_eq!(
        save(&t),
        "-A -t 1.1.1.1:1 -s rr\n-A -u 1.1.1.1:1 -s rr\n-A -t [::2]:1 -s rr\n-A -f 1 -s rr\n"
    );
}
