# Sourced by scripts/test.sh and scripts/bench.sh: a virtual environment of
# the tests' own, made once in target/ and reused, with
# - click-odoo-contrib: its addon_hash is the reference for module checksums;
# - kubernetes-validate: the Kubernetes examples against the strict schemas
#   of several Kubernetes versions;
# - passlib: the oracle for the administrator's password hash (what Odoo
#   verifies passwords with).
CLICK_VENV="$PWD/target/click-venv"
if ! "$CLICK_VENV/bin/python" -c "import click_odoo_contrib._addon_hash, passlib.context" 2>/dev/null \
  || ! [ -x "$CLICK_VENV/bin/kubernetes-validate" ]; then
  rm -rf "$CLICK_VENV"
  python3 -m venv "$CLICK_VENV"
  "$CLICK_VENV/bin/pip" install -q --no-deps click-odoo-contrib
  "$CLICK_VENV/bin/pip" install -q kubernetes-validate passlib
fi
export CLICK_ODOO_PYTHON="$CLICK_VENV/bin/python"
export KUBERNETES_VALIDATE="$CLICK_VENV/bin/kubernetes-validate"
