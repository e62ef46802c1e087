# watch.sh ROWS SECONDS (bash): for each row's real server (10.202.0.2:800N),
# the requests its busybox had logged when it was first seen out of the
# table: "PORT COUNT" lines on stdout. Started once the checker's start
# table is in the kernel; looks every 50 ms for SECONDS, reading
# /proc/net/ip_vs with bash builtins only (no process a look), so a look
# costs the guest's one CPU little. A removed server's next probe comes at
# least delay_loop (2 s) later, so the count is the one at removal.
ROWS=$1
declare -A seen
end=$((SECONDS + $2))
while [ $SECONDS -lt $end ]; do
    table=$(</proc/net/ip_vs)
    for i in $(seq 1 $ROWS); do
        port=$((8000 + i))
        [ -n "${seen[$port]}" ] && continue
        printf -v hex '0ACA0002:%04X ' $port
        if [[ $table != *"$hex"* ]]; then
            seen[$port]=1
            echo "$port $(grep -c 'url:' /run/bg/bb$port.log)"
        fi
    done
    sleep 0.05
done
