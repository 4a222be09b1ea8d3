#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests that need one (server nodes sharing a database) and prints the connection
# string on stdout; `.ci/postgres.sh stop DIR` stops it again. PostgreSQL comes from Debian's packages, installed here
# when missing (as root). Prints nothing and exits 1 when it cannot start one: those tests then say they were skipped.
set -euo pipefail

if [ "${1:-}" = stop ]; then
  dir=$2
  bin=$(cat "$dir/bindir")
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  else "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$dir"
  exit 0
fi

find_bin() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

bin=$(find_bin || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 || true
  fi
  bin=$(find_bin || true)
fi
[ -n "$bin" ] && [ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed and could not be" >&2; exit 1; }

dir=$(mktemp -d /tmp/attp-postgres-XXXXXX)
echo "$bin" > "$dir/bindir"
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
# A free port: try a few at random (the tests never use fixed ports; neither does their database).
for _ in 1 2 3 4 5 6 7 8 9 10; do
  port=$((20000 + RANDOM % 30000))
  if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null 2>&1; then
    as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -qc "create database attp" >/dev/null
    echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=attp;Include Error Detail=true|$dir"
    exit 0
  fi
done
echo "PostgreSQL did not start (see $dir/log)" >&2
exit 1
