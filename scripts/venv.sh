# Sourced by scripts/test.sh and scripts/bench.sh: a virtual environment with
# click-odoo-contrib (its addon_hash is the reference for module checksums),
# made once in target/ and reused.
CLICK_VENV="$PWD/target/click-venv"
if ! "$CLICK_VENV/bin/python" -c "import click_odoo_contrib._addon_hash" 2>/dev/null; then
  rm -rf "$CLICK_VENV"
  python3 -m venv "$CLICK_VENV"
  "$CLICK_VENV/bin/pip" install -q --no-deps click-odoo-contrib
fi
export CLICK_ODOO_PYTHON="$CLICK_VENV/bin/python"
