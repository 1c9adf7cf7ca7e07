#!/usr/bin/env bash
# The randomized fault soak, long: ROUNDS rounds in all (default 100), in
# PARALLEL soaks side by side (default 1; each its own PostgreSQL, PgBouncer
# and network namespaces), against the release build. Every round prints
# its seed; `ROUNDS=1 SEED=<it> bash scripts/soak.sh` replays one.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_tools
cargo build --release --quiet --bin odoo-init
cargo build --quiet --examples
cargo test --no-run --quiet --test soak
export ODOO_INIT_BIN="$PWD/target/x86_64-unknown-linux-gnu/release/odoo-init"
parallel="${PARALLEL:-1}"
rounds="${ROUNDS:-100}"
export SOAK_ROUNDS=$(( (rounds + parallel - 1) / parallel ))
logs=$(mktemp -d)
pids=()
for i in $(seq 1 "$parallel"); do
  if [ -n "${SEED:-}" ]; then export SOAK_SEED=$(( SEED + i - 1 )); fi
  cargo test --quiet --test soak -- --nocapture >"$logs/$i.log" 2>&1 &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
cat "$logs"/*.log
grep -h '^soak:' "$logs"/*.log
rm -rf "$logs"
exit "$status"
