#!/usr/bin/env bash
# The randomized fault soak, long: ROUNDS rounds (default 100) against the
# release build, SEED to replay (each round prints its own seed).
#   bash scripts/soak.sh            # 100 rounds, a seed from the clock
#   ROUNDS=1 SEED=1234 bash scripts/soak.sh   # replay one round
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_tools
cargo build --release --quiet --bin odoo-init
cargo build --quiet --examples
export ODOO_INIT_BIN="$PWD/target/x86_64-unknown-linux-gnu/release/odoo-init"
export SOAK_ROUNDS="${ROUNDS:-100}"
if [ -n "${SEED:-}" ]; then export SOAK_SEED="$SEED"; fi
cargo test --test soak -- --nocapture 2>&1
