# Sourced by scripts/test.sh: a throwaway PostgreSQL server for the state database's tests.
# Installs Debian's postgresql package if missing, creates a cluster in a temporary folder
# (initdb), starts it on a free loopback port (with pg_stat_statements, which the pushdown tests
# read), exports TABLERO_TEST_POSTGRES, and registers
# `postgres_stop` for the caller's exit trap. An existing TABLERO_TEST_POSTGRES is used as is.

postgres_stop() { :; }
if [ -z "${TABLERO_TEST_POSTGRES:-}" ]; then
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "installing postgresql (Debian package)…"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  pg_dir="$(mktemp -d)"
  # initdb refuses to run as root: the cluster then belongs to the package's postgres user.
  as_pg=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$pg_dir"
    as_pg=(runuser -u postgres --)
  fi
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U tablero --auth=trust -E UTF8 >"$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log" >&2; exit 1; }
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories='' -c fsync=off -c max_connections=200 -c shared_preload_libraries=pg_stat_statements" \
    start >/dev/null || { cat "$pg_dir/server.log" >&2; exit 1; }
  postgres_stop() {
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  }
  export TABLERO_TEST_POSTGRES="postgres://tablero@127.0.0.1:$pg_port/postgres"
  echo "PostgreSQL for the tests: $TABLERO_TEST_POSTGRES"
fi
