#!/usr/bin/env bash
# The demo: a throwaway PostgreSQL; odoo-init as PID 1 of a fresh PID
# namespace in MODE=InstallAndRun, supervising the stand-in Odoo; the state
# table filling up; a restart in place with new arguments; a clean stop.
# Everything is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_tools
cargo build --release --quiet --bin odoo-init --example standin-odoo
OUT=target/x86_64-unknown-linux-gnu/release
BIN=$PWD/$OUT/odoo-init
ODOO=$PWD/$OUT/examples/standin-odoo
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
WORK=$(mktemp -d)
chmod 755 "$WORK"
AS_PG=()
if [ "$(id -u)" = 0 ]; then AS_PG=(runuser -u postgres --); chown postgres "$WORK"; fi
UNSHARE=(unshare --pid --fork --mount-proc)
[ "$(id -u)" = 0 ] || UNSHARE=(unshare --user --map-root-user --pid --fork --mount-proc)
PORT=54329
while (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do PORT=$((PORT + 1)); done
cleanup() {
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() { # wait_for FILE PATTERN: until the line is there (bounded)
  for _ in $(seq 1 1500); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.02; done
  echo "demo: timed out waiting for '$2' in $1" >&2; cat "$WORK/init.log" >&2; exit 1
}

say "a throwaway PostgreSQL on 127.0.0.1:$PORT, and a role for Odoo"
echo "postgres-demo" > "$WORK/pw"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U postgres --pwfile="$WORK/pw" \
  --auth-local=trust --auth-host=scram-sha-256 --no-sync >/dev/null
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
  -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1" start >/dev/null
"${AS_PG[@]}" psql -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres \
  -c "CREATE ROLE odoo LOGIN CREATEDB PASSWORD 'odoo-demo'"

printf 'echo "maintenance: e.g. reset the base URL, purge old sessions"\nsleep 1\n' > "$WORK/run.sh"
printf 'odoo-demo\n' > "$WORK/db_password"
export DB_HOST=127.0.0.1 DB_PORT=$PORT DB_NAME=odoo DB_USER=odoo
export DB_PASSWORD_FILE=$WORK/db_password ODOO_BIN=$ODOO MAINTENANCE_SCRIPT=$WORK/run.sh
export ODOO_INIT_RUNTIME_DIR=$WORK/run STANDIN_LOG=$WORK/odoo.log STANDIN_STEP_MS=500 STOP_TIMEOUT=5

say "MODE=InstallAndRun MODULES=sale,crm: odoo-init as PID 1 (docker run ... odoo-init)"
MODE=InstallAndRun MODULES=sale,crm "${UNSHARE[@]}" "$BIN" -- --workers 2 2>"$WORK/init.log" &
TOP=$!
wait_for "$WORK/odoo.log" "worker start"
INIT=$(pgrep -P "$TOP" -x odoo-init)
cat "$WORK/init.log"

say "odoo-init state"
"$BIN" state

say "odoo-init restart -- --workers 3  (restart in place: the state gate again, then Odoo with new arguments)"
"$BIN" restart --pid "$INIT" -- --workers 3
wait_for "$WORK/odoo.log" "start argv=-d odoo --no-database-list --workers 3"

say "docker stop  (SIGTERM to PID 1)"
kill -TERM "$INIT"
wait "$TOP" && status=0 || status=$?

say "what odoo-init logged after the install"
sed -n '/odoo-init state\|SIGHUP/,$p' "$WORK/init.log" | tail -n +1 | grep -v '^$' | tail -n 14
say "what the stand-in Odoo saw (PID ROLE EVENT)"
cat "$WORK/odoo.log"
say "odoo-init exited with status $status; removing the cluster"
