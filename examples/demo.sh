#!/usr/bin/env bash
# The quickstart demo: lvsd health-checks three local backends and one dead
# port for DEMO_SECONDS (default 15), with an in-memory IPVS table
# (--dry-run: no root, no IPVS kernel needed), then stops everything and
# prints how many check connections each backend saw.
#
#   bash examples/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --bins
bin=${CARGO_TARGET_DIR:-target}/release

"$bin/lvsd-backend" --stats 127.0.0.1:18081 127.0.0.1:18082 127.0.0.1:18083 &
backend=$!
trap 'kill "$backend" 2>/dev/null || true' EXIT
sleep 0.5
kill -0 "$backend" # still there: it could listen

echo "== lvsd --dry-run -l -f examples/quickstart.conf (for ${DEMO_SECONDS:-15} s)"
status=0
timeout -s INT "${DEMO_SECONDS:-15}" "$bin/lvsd" --dry-run -l -f examples/quickstart.conf || status=$?
# 124: timeout ended it, as planned.
if ((status != 0 && status != 124 && status != 130)); then
    echo "demo: lvsd exited with status $status" >&2
fi

echo "== backends (connections seen, how they ended)"
kill -TERM "$backend"
wait "$backend" || true
trap - EXIT
exit $((status == 124 || status == 130 ? 0 : status))
