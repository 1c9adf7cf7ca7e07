#!/bin/sh
# The maintenance script: odoo-init runs it after every install and update
# (state 'Maintenance', then 'Ready'), before Odoo serves, as a supervised
# child. It is the place for idempotent fixes that must hold in every
# environment after a deployment, for example:
#   - set web.base.url for this environment,
#   - disable outgoing mail servers and crons on a staging copy,
#   - clear stale sessions or assets after an upgrade.
# It must be safe to run twice and must not wait for input.
#
# The database is reachable through libpq's environment, which odoo-init
# sets: PGHOST, PGPORT, PGUSER, PGDATABASE, and PGPASSFILE (a 0600 file):
# psql, pg_dump and `odoo shell -d "$PGDATABASE"` need no password argument.
# A non-zero exit fails the step: the state stays 'Maintenance' and odoo-init
# exits 65, so a broken deployment does not start serving.
set -eu

echo "maintenance for database ${PGDATABASE:-?}: nothing to do"

# Example: pin the base URL (uncomment and adapt).
# psql -X -v ON_ERROR_STOP=1 -c \
#   "UPDATE ir_config_parameter SET value = 'https://odoo.example.com' WHERE key = 'web.base.url'"
