# Sourced by scripts/*.sh: installs the Debian packages the project needs when missing.
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} = 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

need_tools() {
  # util-linux: unshare and setsid for the PID-1 tests; procps: ps for debugging;
  # postgresql: initdb/pg_ctl for throwaway clusters, psql for the stand-in Odoo;
  # postgresql-contrib: pgbench for load; pgbouncer: the pooler the gate must work through;
  # python3-venv: the checksum tests' reference (scripts/venv.sh);
  # openssl and docker-compose: the container tests (the engine itself must already run:
  # tests/docker.rs says how to get one when it does not); iproute2: the fault soak's
  # network namespaces (ip netns, veth).
  apt_install util-linux procps postgresql postgresql-client postgresql-contrib pgbouncer \
    openssl docker-compose python3-venv iproute2
  command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup" >&2; exit 1; }
  local have; have=$(rustup component list --installed 2>/dev/null)
  { grep -q rustfmt <<<"$have" && grep -q clippy <<<"$have"; } || rustup component add rustfmt clippy
}

need_bench_tools() {
  apt_install tini dumb-init catatonit valgrind
}
