#!/usr/bin/env bash
# A throw-away PostgreSQL server on 127.0.0.1 for the test suite.
#   eval "$(scripts/pg-test-server.sh start)"   # exports CAFE_MONITOR_TEST_PG
#   scripts/pg-test-server.sh stop
# Installs Debian's postgresql package when the server binaries are missing (as root).
set -euo pipefail
PORT="${CAFE_PG_PORT:-54329}"
DATA="${CAFE_PG_DATA:-/tmp/cafe-monitor-pg-$PORT}"
case "$DATA" in /*) ;; *) DATA="$PWD/$DATA" ;; esac
cmd="${1:-start}"
HERE="$(cd "$(dirname "$0")" && pwd)"
cd /  # the postgres user cannot enter a checkout under /root: no "could not change directory" lines

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
BIN="$(find_bin || true)"
if [ -z "$BIN" ] && [ "$cmd" = start ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    "$HERE/apt-install.sh" postgresql
    BIN="$(find_bin)"
  else
    echo "PostgreSQL server binaries not found and cannot install them" >&2
    exit 1
  fi
fi

RUN=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  RUN=(runuser -u postgres --)
fi

case "$cmd" in
  start)
    if ! "${RUN[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      rm -rf "$DATA"; mkdir -p "$DATA"
      [ "$(id -u)" -eq 0 ] && chown postgres "$DATA"
      "${RUN[@]}" "$BIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
      "${RUN[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
        -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    fi
    "${RUN[@]}" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='cafe_test'" | grep -q 1 \
      || "${RUN[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres cafe_test
    echo "export CAFE_MONITOR_TEST_PG=postgresql+psycopg://postgres@127.0.0.1:$PORT/cafe_test"
    ;;
  stop)
    [ -n "$BIN" ] && "${RUN[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
