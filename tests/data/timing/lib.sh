# Shell functions for tests/kernel_timing.rs in the guest (bash: $EPOCHREALTIME).
#
# Pair N (1 = keepalived's, 2 = lvsd's): namespace tN behind a veth pair,
# root side 10.201.N.1/24 (the checker probes from there), namespace side
# 10.201.N.2, where backend beN listens on port 8090 and recorder recN
# (lvsd-synrec) writes one line per SYN to /run/bg/recN.log.

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

# in_table N: the real server of pair N is in the IPVS table with a weight.
in_table() {
    ipvsadm -Sn | grep -q -- "-r 10.201.$1.2:8090 -m -w [1-9]"
}

# syns N: how many SYNs recorder N has seen.
syns() {
    grep -c '^syn ' /run/bg/rec$1.log
}

# elapsed_ms SINCE: milliseconds from $EPOCHREALTIME value SINCE to now.
elapsed_ms() {
    echo $(( (${EPOCHREALTIME/./} - ${1/./}) / 1000 ))
}

# kill_and_watch N HOW: once the checker of pair N has seen the backend
# alive twice (a SYN, then a new one), waits 500 ms, then kills the
# backend (HOW=refused: the process ends, SYNs get an RST; HOW=timeout:
# answers are blackholed, probes time out) and polls the table every
# 20 ms until the real server leaves, then waits for the next SYN (the
# first probe after "down"). Prints "N death T down T polls K".
kill_and_watch() {
    local n=$1 how=$2 t0=$EPOCHREALTIME seen polls=0 death down
    until [ $(syns $n) -ge 1 ] && in_table $n; do
        [ $(elapsed_ms $t0) -gt 15000 ] && { echo "$n never up"; return; }
        sleep 0.02
    done
    seen=$(syns $n)
    until [ $(syns $n) -gt $seen ]; do sleep 0.02; done
    sleep 0.5
    death=$EPOCHREALTIME
    case $how in
        refused) kill $(cat /run/bg/be$n.pid) ;;
        timeout) ip netns exec t$n ip route add blackhole 10.201.$n.1/32 ;;
    esac
    while in_table $n; do
        polls=$((polls + 1))
        [ $(elapsed_ms $death) -gt 15000 ] && { echo "$n death $death down none polls $polls"; return; }
        sleep 0.02
    done
    down=$EPOCHREALTIME
    watch_next_syn $n $down
    echo "$n death $death down $down polls $polls"
}

# watch_from_start N: the checker of pair N started just now with its
# backend dead; polls the table every 20 ms until the real server has been
# in it and left (or 8 s passed without), then waits for the next SYN.
# Prints "N start T added T|none down T|none polls K".
watch_from_start() {
    local n=$1 t0=$EPOCHREALTIME added=none down=none polls=0
    while [ $(elapsed_ms $t0) -lt 8000 ]; do
        polls=$((polls + 1))
        if in_table $n; then
            [ $added = none ] && added=$EPOCHREALTIME
        elif [ $(syns $n) -ge 1 ]; then
            # Out of the table after a probe: down (whether or not it was added).
            down=$EPOCHREALTIME
            break
        fi
        sleep 0.02
    done
    [ $down != none ] && watch_next_syn $n $down
    echo "$n start $t0 added $added down $down polls $polls"
}

# watch_next_syn N SINCE: waits (up to 4 s) for a SYN of pair N after SINCE.
watch_next_syn() {
    local n=$1 since=$2 last
    while [ $(elapsed_ms $since) -lt 4000 ]; do
        last=$(grep '^syn ' /run/bg/rec$n.log | tail -1 | cut -d' ' -f2)
        [ -n "$last" ] && [ ${last/./} -gt ${since/./} ] && return
        sleep 0.05
    done
}
