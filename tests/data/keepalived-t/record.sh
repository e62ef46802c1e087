#!/bin/sh
# Record what `keepalived -t` says about each sample config shipped with the
# keepalived package, as the expected data of tests/host/samples.rs.
#
# Each NAME.txt holds `rc=N` then keepalived's output, with the sample's
# temporary path replaced by FILE. Run from anywhere; needs keepalived.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
samples=/usr/share/doc/keepalived/samples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
keepalived -v 2>&1 | head -1 > "$here/VERSION"
for src in "$samples"/keepalived.conf.*; do
    name=$(basename "$src" .gz)
    case "$src" in
        *.gz) gzip -dc "$src" > "$tmp/$name" ;;
        *) cp "$src" "$tmp/$name" ;;
    esac
    set +e
    out=$(keepalived -t -f "$tmp/$name" 2>&1)
    rc=$?
    set -e
    { echo "rc=$rc"; [ -n "$out" ] && printf '%s\n' "$out" | sed "s#$tmp/$name#FILE#g"; } > "$here/$name.txt"
done
