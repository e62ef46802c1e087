# Shell functions for tests/kernel_smtp_dns.rs in the guest (bash).
#
# Pairs come from ../timing/lib.sh (make_pair N: namespace tN behind a veth
# pair, root side 10.201.N.1, namespace side 10.201.N.2). Odd pairs are
# keepalived's, even ones lvsd's. Backends, in the pair's namespace:
# scripted SMTP servers (busybox nc running one of the smtp-*.sh scripts
# per connection) on port 25, dnsmasq on port 53.
. /etc/lvsd-sd/timing.sh

# iproute2's ip by its path: busybox's setsid would run its own `ip` applet.
IP=$(type -P ip)

# smtp N SCRIPT: the SMTP server of pair N runs /etc/lvsd-sd/smtp-SCRIPT.sh.
smtp() {
    setsid $IP netns exec t$1 busybox nc -ll -p 25 -e /etc/lvsd-sd/smtp-$2.sh \
        > /run/bg/be$1.log 2>&1 < /dev/null &
    echo $! > /run/bg/be$1.pid
}

# dns N: dnsmasq for pair N: example.test is 127.0.0.2, *.nx.test NXDOMAIN.
dns() {
    setsid $IP netns exec t$1 dnsmasq --no-daemon --port=53 --listen-address=10.201.$1.2 \
        --bind-interfaces --no-resolv --no-hosts --user=root --group=root --pid-file= \
        --address=/example.test/127.0.0.2 --local=/example.test/ --local=/nx.test/ \
        > /run/bg/be$1.log 2>&1 < /dev/null &
    echo $! > /run/bg/be$1.pid
}

# silent N: pair N's answers are dropped (the probes still arrive).
silent() {
    ip netns exec t$1 ip route add blackhole 10.201.$1.1/32
}

# slow N MS: pair N's answers leave MS milliseconds late. The checkers'
# side knows the backend's MAC address for good: else the delayed ARP
# answer would hold back the first probe itself.
slow() {
    local mac
    mac=$(ip netns exec t$1 cat /sys/class/net/veth-t$1r/address)
    ip neigh replace 10.201.$1.2 lladdr $mac dev veth-t$1 nud permanent
    ip netns exec t$1 tc qdisc add dev veth-t$1r root netem delay ${2}ms
}
