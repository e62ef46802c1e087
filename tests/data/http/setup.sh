# Guest setup for tests/kernel_http.rs (bash). Idempotent.
#
# Namespace `web` behind a veth pair: the root side is 10.202.0.1/24 (the
# checkers probe from there), the namespace side 10.202.0.2, where one
# busybox httpd a row listens on port 8001.. (ROWS of them), serving
# /srv/www, each logging its requests (`-vv`: one `url:` line a request) to
# /run/bg/bbPORT.log.
#
# /srv/www: index.html ("hello\n"), status.txt, dir/ (GET /dir answers
# 302), and CGI scripts: busy (503), slow (the body one line every 2 s, 8
# s in all), open (a complete answer, then the connection held 30 s).
set -e
[ -e /run/netns/web ] && exit 0
ROWS=$1
mkdir -p /run/bg /srv/www/dir /srv/www/cgi-bin
printf 'hello\n' > /srv/www/index.html
printf 'state: ready 42\n' > /srv/www/status.txt
printf 'in dir\n' > /srv/www/dir/index.html
cat > /srv/www/cgi-bin/busy <<'EOF'
#!/bin/sh
printf 'Status: 503 Busy\r\nContent-Type: text/plain\r\n\r\nbusy\n'
EOF
cat > /srv/www/cgi-bin/slow <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
for i in 1 2 3 4; do sleep 2; echo "line $i"; done
EOF
cat > /srv/www/cgi-bin/open <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n'
sleep 30
EOF
chmod 755 /srv/www/cgi-bin/*
ip link set lo up
ip netns add web
ip link add veth-web type veth peer name veth-webr
ip link set veth-webr netns web
ip addr add 10.202.0.1/24 dev veth-web
ip link set veth-web up
ip netns exec web ip addr add 10.202.0.2/24 dev veth-webr
ip netns exec web ip link set veth-webr up
ip netns exec web ip link set lo up
for i in $(seq 1 $ROWS); do
    port=$((8000 + i))
    # (Not under busybox's setsid: it would run busybox's own `ip`.)
    ip netns exec web busybox httpd -f -vv -p 10.202.0.2:$port -h /srv/www \
        > /run/bg/bb$port.log 2>&1 < /dev/null &
done
# Up when every port listens (state 0A in the namespace's /proc/net/tcp).
for t in $(seq 100); do
    [ $(ip netns exec web cat /proc/net/tcp | grep -c ' 0A ') -ge $ROWS ] && exit 0
    sleep 0.1
done
echo "busybox httpd did not come up" >&2
cat /run/bg/bb8001.log >&2
exit 1
