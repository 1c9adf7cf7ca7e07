#!/usr/bin/env bash
# Runs every check and test of odoo-init. Installs what it needs on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_tools
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# The tests run the stand-in Odoo as a plain binary: build the examples as such.
cargo build --examples
cargo test 2>&1
