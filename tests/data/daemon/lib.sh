# Shell functions for tests/kernel_daemon.rs in the guest (busybox sh, bash).

# Namespaces rs1..rs3, each behind a veth pair: root side 10.200.N.1/24,
# namespace side 10.200.N.2 (plus 10.200.N.9, the sorry server's address).
# Idempotent.
make_namespaces() {
    for n in 1 2 3; do
        [ -e /run/netns/rs$n ] && continue
        ip netns add rs$n
        ip link add veth-lb$n type veth peer name veth-rs$n
        ip link set veth-rs$n netns rs$n
        ip addr add 10.200.$n.1/24 dev veth-lb$n
        ip link set veth-lb$n up
        ip netns exec rs$n ip addr add 10.200.$n.2/24 dev veth-rs$n
        ip netns exec rs$n ip addr add 10.200.$n.9/24 dev veth-rs$n
        ip netns exec rs$n ip link set veth-rs$n up
        ip netns exec rs$n ip link set lo up
    done
}

# tcp_counter NS FIELD: a Tcp: counter of /proc/net/snmp in namespace NS
# (OutRsts: resets sent, so refused SYNs; PassiveOpens: accepted connections).
tcp_counter() {
    ip netns exec "$1" cat /proc/net/snmp | awk -v f="$2" '
        /^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == f) c = i; h = 1 } else print $c }'
}

# tcpext_counter NS FIELD: a TcpExt: counter of /proc/net/netstat in
# namespace NS (ListenOverflows: handshakes dropped for a full backlog).
tcpext_counter() {
    ip netns exec "$1" cat /proc/net/netstat | awk -v f="$2" '
        /^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == f) c = i; h = 1 } else print $c }'
}

# Centiseconds since boot.
uptime_cs() {
    awk '{ printf "%d\n", $1 * 100 }' /proc/uptime
}

# PassiveOpens of rs1..rs3, space separated.
passive_opens_all() {
    echo $(tcp_counter rs1 PassiveOpens) $(tcp_counter rs2 PassiveOpens) $(tcp_counter rs3 PassiveOpens)
}

# probed_since "A B C" N: every namespace accepted at least N connections
# since passive_opens_all printed "A B C".
probed_since() {
    set -- $1 $2
    now=$(passive_opens_all)
    set -- $1 $2 $3 $4 $now
    [ $(($5 - $1)) -ge $4 ] && [ $(($6 - $2)) -ge $4 ] && [ $(($7 - $3)) -ge $4 ]
}

# children_of PID: pids whose parent is PID (keepalived forks its checker).
children_of() {
    for stat in /proc/[0-9]*/stat; do
        awk -v p="$1" '$4 == p { print $1 }' "$stat" 2>/dev/null
    done
}
