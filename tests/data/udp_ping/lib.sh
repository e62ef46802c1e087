# Shell functions for tests/kernel_udp_ping.rs in the guest (bash).
#
# Pair N: namespace uN behind a veth pair, root side 10.203.N.1/24 (the
# checkers probe from there), namespace side 10.203.N.2: the real server.
# keepalived's rows use pairs 1-20, lvsd's 21-40 (row R: pair R, 20+R).

# make_pair N: creates pair N.
make_pair() {
    local n=$1
    ip netns add u$n
    ip link add veth-u$n type veth peer name veth-u${n}r netns u$n
    ip addr add 10.203.$n.1/24 dev veth-u$n
    ip link set veth-u$n up
    ip -n u$n addr add 10.203.$n.2/24 dev veth-u${n}r
    ip -n u$n link set veth-u${n}r up
    ip -n u$n link set lo up
    # A process in the namespace: its /proc/PID/net/snmp is the
    # namespace's, readable without entering it.
    ip netns exec u$n sleep 100000 > /dev/null 2>&1 < /dev/null &
    echo $! > /run/ns$n.pid
}

# dns_up N: dnsmasq (a real DNS server) on 10.203.N.2:53, answering lvsd.test.
dns_up() {
    local n=$1
    ip netns exec u$n dnsmasq --no-resolv --no-hosts --conf-file=/dev/null \
        --listen-address=10.203.$n.2 --bind-interfaces --user=root \
        --pid-file=/run/dns$n.pid --port=53 --address=/lvsd.test/192.0.2.7
}

# blackhole N / unblackhole N: pair N's answers to the checker are dropped.
blackhole() {
    ip -n u$1 route add blackhole 10.203.$1.1/32
}
unblackhole() {
    ip -n u$1 route del blackhole 10.203.$1.1/32
}

# slow N: pair N's answers leave 1.5 s late (netem). One datagram first
# (to a closed port, counted as a probe: see `base`), so that the
# namespace's address is resolved (ARP) before its answers slow down: a
# probe must not wait 1.5 s for ARP before it reaches the namespace.
slow() {
    echo > /dev/udp/10.203.$1.2/9
    sleep 0.2
    ip netns exec u$1 tc qdisc add dev veth-u${1}r root netem delay 1500ms
}

# probes N: the probes pair N received so far: UDP datagrams (delivered,
# to a closed port, or in error) plus ICMP echo requests.
PROBES_AWK='
    /^Udp:/ { if (u) { udp = $2 + $3 + $4 } else { u = 1 } }
    /^Icmp:/ { if (i) { split($0, f, " "); echos = f[col] } else { i = 1; for (k = 1; k <= NF; k++) if ($k == "InEchos") col = k } }
    END { print udp + echos }'
probes() {
    local pid udp=0 echos=0 k
    local -a f head
    read -r pid < /run/ns$1.pid
    # bash builtins only: the watch below reads this often, and a fork
    # costs the guest's CPU dearly.
    while read -r -a f; do
        case ${f[0]} in
            Udp:) [[ ${f[1]} == InDatagrams ]] || udp=$(( f[1] + f[2] + f[3] )) ;;
            Icmp:)
                if [[ ${f[1]} == InMsgs ]]; then
                    head=("${f[@]}")
                else
                    for k in "${!head[@]}"; do
                        [[ ${head[$k]} == InEchos ]] && echos=${f[$k]}
                    done
                fi ;;
        esac
    done < /proc/$pid/net/snmp
    echo $(( udp + echos ))
}

# die N HOW: pair N's service dies (HOW=port: dnsmasq is killed, its port
# closes; HOW=echo: its answers are blackholed), and the probes it had
# received then are read in the same breath, inside the namespace
# (/run/death.N): no probe can fall between the death and the count.
die() {
    local n=$1 step
    case $2 in
        port) step="kill -KILL $(cat /run/dns$n.pid)" ;;
        echo) step="ip route add blackhole 10.203.$n.1/32" ;;
    esac
    ip netns exec u$n bash -c "$step; awk '$PROBES_AWK' /proc/net/snmp" > /run/death.$n
}

# base N...: records the probes each pair received before the checkers
# start (/run/base.N).
base() {
    local n
    for n in "$@"; do probes $n > /run/base.$n; done
}

# present N: whether pair N's real server is in the table.
present() {
    ipvsadm -Sn | grep -q -- "-r 10.203.$1.2:"
}

# watch_removals N...: records, for each pair N, the probes it had received
# when its real server first left the table (/run/removed.N). Runs until
# killed. One fork a round (ipvsadm): the guest's CPU is the checkers'.
watch_removals() {
    local table n
    declare -A done
    # A pipe nobody writes to: `read -t` on it sleeps without a fork.
    exec 9<> <(:)
    while true; do
        table=$(ipvsadm -Sn)
        for n in "$@"; do
            [ -n "${done[$n]}" ] && continue
            if [[ $table != *"-r 10.203.$n.2:"* ]]; then
                probes $n > /run/removed.$n
                done[$n]=1
            fi
        done
        read -t 0.1 -u 9 || true
    done
}
