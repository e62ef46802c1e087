#!/bin/sh
# Record what `keepalived -t` says about each NAME.conf here, as the
# expected data of tests/host/parity.rs: NAME.txt holds `rc=N` then keepalived's
# output (sorted, repeats removed: keepalived parses once per process and
# may print a message more than once), the config's path replaced by FILE.
# Run from anywhere; needs keepalived (the version is written to VERSION).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
keepalived -v 2>&1 | head -1 > "$here/VERSION"
for conf in "$here"/*.conf; do
    name=$(basename "$conf" .conf)
    set +e
    out=$(keepalived -t -f "$conf" 2>&1)
    rc=$?
    set -e
    { echo "rc=$rc"; [ -n "$out" ] && printf '%s\n' "$out" | sed "s#$conf#FILE#g" | sort -u; } > "$here/$name.txt"
done
