#!/usr/bin/env bash
# The demo: odoo-init as PID 1 of a fresh PID namespace, supervising the
# stand-in Odoo (prefork, 2 workers); a restart in place with new arguments,
# a forwarded signal, then a clean stop. Everything is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_tools
cargo build --release --quiet --bin odoo-init --example standin-odoo
BIN=target/x86_64-unknown-linux-gnu/release/odoo-init
ODOO=target/x86_64-unknown-linux-gnu/release/examples/standin-odoo
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
UNSHARE=(unshare --pid --fork --mount-proc)
[ "$(id -u)" = 0 ] || UNSHARE=(unshare --user --map-root-user --pid --fork --mount-proc)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() { # wait_for FILE PATTERN: until the line is there (bounded)
  for _ in $(seq 1 500); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.02; done
  echo "demo: timed out waiting for '$2' in $1" >&2; exit 1
}

say "starting odoo-init as PID 1: odoo-init supervise -- odoo-bin --workers 2"
export ODOO_INIT_RUNTIME_DIR="$WORK/run" STANDIN_LOG="$WORK/odoo.log" STOP_TIMEOUT=5
"${UNSHARE[@]}" "$BIN" supervise -- "$ODOO" --workers 2 2>"$WORK/init.log" &
TOP=$!
wait_for "$WORK/odoo.log" "worker start"
INIT=$(pgrep -P "$TOP" -x odoo-init)
echo "odoo-init is PID 1 inside the container (PID $INIT outside)"

say "kill -USR1 1  (forwarded to Odoo, e.g. to log its cache statistics)"
kill -USR1 "$INIT"
wait_for "$WORK/odoo.log" "master signal SIGUSR1 from 1"

say "odoo-init restart -- --workers 2 --log-level=debug  (restart in place; these replace the previous extra arguments)"
"$BIN" restart --pid "$INIT" -- --workers 2 --log-level=debug
wait_for "$WORK/odoo.log" "start argv=--workers 2 --log-level=debug"

say "docker stop  (SIGTERM to PID 1)"
kill -TERM "$INIT"
wait "$TOP" && status=0 || status=$?

say "what odoo-init logged"
cat "$WORK/init.log"
say "what the stand-in Odoo saw (PID ROLE EVENT)"
cat "$WORK/odoo.log"
say "odoo-init exited with status $status"
