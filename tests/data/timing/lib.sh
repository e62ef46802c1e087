# Shell functions for tests/kernel_timing.rs in the guest (bash: $EPOCHREALTIME).
#
# Pair N (odd: keepalived's, even: lvsd's): namespace tN behind a veth pair,
# root side 10.201.N.1/24 (the checker probes from there), namespace side
# 10.201.N.2, where backend beN listens on port 8090,
# and lvsd-witness (synN, in the namespace; ipvsN, in the root one)
# write SYN times and table changes to /run/bg/synN.log, /run/bg/ipvsN.log.

# make_pair N: creates pair N (idempotent).
make_pair() {
    local n=$1
    [ -e /run/netns/t$n ] && return
    ip netns add t$n
    ip link add veth-t$n type veth peer name veth-t${n}r
    ip link set veth-t${n}r netns t$n
    ip addr add 10.201.$n.1/24 dev veth-t$n
    ip link set veth-t$n up
    ip netns exec t$n ip addr add 10.201.$n.2/24 dev veth-t${n}r
    ip netns exec t$n ip link set veth-t${n}r up
    ip netns exec t$n ip link set lo up
}

# syns N: how many SYNs pair N's backend has received (lvsd-witness syns).
syns() {
    grep -c '^syn ' /run/bg/syn$1.log
}

# last_syn N: the time of the last SYN pair N's backend received.
last_syn() {
    grep '^syn ' /run/bg/syn$1.log | tail -1 | cut -d' ' -f2
}

# table N: "present" or "absent", what lvsd-witness ipvs last saw of pair
# N's real server, and since when.
table() {
    tail -1 /run/bg/ipvs$1.log
}

# elapsed_ms SINCE: milliseconds from $EPOCHREALTIME value SINCE to now.
elapsed_ms() {
    echo $(( (${EPOCHREALTIME/./} - ${1/./}) / 1000 ))
}

# wait_down_and_next N SINCE: waits (up to 15 s after SINCE) until pair N's
# real server has left the table, then (up to 4 s more) for the next SYN:
# the first probe after "down". (The times come from lvsd-witness; these
# loops poll slowly to leave the guest's one CPU to the checkers.)
wait_down_and_next() {
    local n=$1 since=$2 down last
    until [[ $(table $n) == absent* ]]; do
        [ $(elapsed_ms $since) -gt 15000 ] && return
        sleep 0.1
    done
    down=$(table $n | cut -d' ' -f2)
    while [ $(elapsed_ms $down) -lt 4000 ]; do
        last=$(last_syn $n)
        [ ${last/./} -gt ${down/./} ] && return
        sleep 0.1
    done
}

# kill_and_watch N HOW: once the checker of pair N has seen the backend
# alive twice (a SYN while in the table, then a new one), waits 500 ms,
# kills the backend (HOW=refused: SIGKILL, its port closes, SYNs get an RST;
# HOW=timeout: its answers are blackholed, probes time out), and waits for
# "down" and the probe after it. Prints "N death T".
kill_and_watch() {
    local n=$1 how=$2 t0=$EPOCHREALTIME seen death
    until [ $(syns $n) -ge 1 ] && [[ $(table $n) == present* ]]; do
        [ $(elapsed_ms $t0) -gt 15000 ] && { echo "$n never up"; return; }
        sleep 0.1
    done
    seen=$(syns $n)
    until [ $(syns $n) -gt $seen ]; do sleep 0.1; done
    sleep 0.5
    case $how in
        refused) kill -KILL $(cat /run/bg/be$n.pid) ;;
        timeout) ip netns exec t$n ip route add blackhole 10.201.$n.1/32 ;;
    esac
    # The moment the kill is done (starting `ip` can take a while in the
    # guest): a probe before it still succeeded.
    death=$EPOCHREALTIME
    wait_down_and_next $n $death
    echo "$n death $death"
}

# watch_from_start N: the checker of pair N has just started with its
# backend dead: waits for its first probe, then for "down" and the next
# probe. Prints "N start T".
watch_from_start() {
    local n=$1 t0=$EPOCHREALTIME
    until [ $(syns $n) -ge 1 ]; do
        [ $(elapsed_ms $t0) -gt 8000 ] && break
        sleep 0.1
    done
    wait_down_and_next $n $t0
    echo "$n start $t0"
}
