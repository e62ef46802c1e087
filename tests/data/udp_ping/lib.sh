# Shell functions for tests/kernel_udp_ping.rs in the guest (bash).
#
# Pair N: namespace uN behind a veth pair, root side 10.203.N.1/24 (the
# checkers probe from there), namespace side 10.203.N.2: the real server.
# keepalived's rows use pairs 1-20, lvsd's 21-40 (row R: pair R, 20+R).

# make_pair N: creates pair N.
make_pair() {
    local n=$1
    ip netns add u$n
    ip link add veth-u$n type veth peer name veth-u${n}r
    ip link set veth-u${n}r netns u$n
    ip addr add 10.203.$n.1/24 dev veth-u$n
    ip link set veth-u$n up
    ip netns exec u$n ip addr add 10.203.$n.2/24 dev veth-u${n}r
    ip netns exec u$n ip link set veth-u${n}r up
    ip netns exec u$n ip link set lo up
}

# dns_up N: dnsmasq (a real DNS server) on 10.203.N.2:53, answering lvsd.test.
dns_up() {
    local n=$1
    ip netns exec u$n dnsmasq --no-resolv --no-hosts --conf-file=/dev/null \
        --listen-address=10.203.$n.2 --bind-interfaces --user=root \
        --pid-file=/run/dns$n.pid --port=53 --address=/lvsd.test/192.0.2.7
}

# dns_down N: kills pair N's dnsmasq: its port closes (ICMP port unreachable).
dns_down() {
    kill -KILL $(cat /run/dns$1.pid)
}

# blackhole N / unblackhole N: pair N's answers to the checker are dropped.
blackhole() {
    ip netns exec u$1 ip route add blackhole 10.203.$1.1/32
}
unblackhole() {
    ip netns exec u$1 ip route del blackhole 10.203.$1.1/32
}

# slow N: pair N's answers leave 1.5 s late (netem).
slow() {
    ip netns exec u$1 tc qdisc add dev veth-u${1}r root netem delay 1500ms
}

# probes N: the probes pair N received so far: UDP datagrams (delivered,
# to a closed port, or in error) plus ICMP echo requests.
probes() {
    ip netns exec u$1 awk '
        /^Udp:/ { if (u) { print_u = $2 + $3 + $4 } else { u = 1 } }
        /^Icmp:/ { if (i) { echos = $0 } else { i = 1; for (k = 1; k <= NF; k++) if ($k == "InEchos") col = k } }
        END { split(echos, f, " "); print print_u + f[col] }' /proc/net/snmp
}

# present N: whether pair N's real server is in the table.
present() {
    ipvsadm -Sn | grep -q -- "-r 10.203.$1.2:"
}

# watch_removals N...: records, for each pair N, the probes it had received
# when its real server first left the table (/run/removed.N). Runs until killed.
watch_removals() {
    local table n
    while true; do
        table=$(ipvsadm -Sn)
        for n in "$@"; do
            [ -e /run/removed.$n ] && continue
            grep -q -- "-r 10.203.$n.2:" <<<"$table" || probes $n > /run/removed.$n
        done
        sleep 0.2
    done
}
