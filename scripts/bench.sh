#!/usr/bin/env bash
# Benchmark odoo-init against tini, dumb-init and catatonit, each as PID 1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_tools
need_bench_tools
cargo build --release --quiet --bin odoo-init --example standin-odoo
# The reference the module checksums are measured against.
. scripts/venv.sh
cargo bench --quiet --bench inits
