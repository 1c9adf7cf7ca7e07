#!/usr/bin/env bash
# Runs every check and test of odoo-init. Installs what it needs on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_tools
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets 2>&1
