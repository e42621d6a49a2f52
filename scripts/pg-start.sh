#!/usr/bin/env bash
# Source me: start a throwaway PostgreSQL on 127.0.0.1 and export TEST_DATABASE_URL; pg_stop ends it.
pg_bin=""
if command -v pg_ctl >/dev/null 2>&1; then pg_bin="$(dirname "$(command -v pg_ctl)")"; fi
if [ -z "$pg_bin" ]; then pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"; fi
PG_DIR="$(mktemp -d /tmp/portal-pg.XXXXXX)"
PG_PORT="${PG_PORT:-55432}"
PG_RUN_AS=()
if [ "$(id -u)" = "0" ]; then
  # PostgreSQL refuses to run as root: run it as the unprivileged "nobody".
  chown nobody "$PG_DIR" 2>/dev/null || chown nobody:nogroup "$PG_DIR"
  PG_RUN_AS=(runuser -u nobody --)
fi
"${PG_RUN_AS[@]}" "$pg_bin/initdb" -D "$PG_DIR/data" -U portal --auth=trust >/dev/null
"${PG_RUN_AS[@]}" "$pg_bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
# The tests create (and drop) their own databases on this server.
export TEST_DATABASE_URL="postgresql://portal@127.0.0.1:$PG_PORT/postgres"
# pg_stop deletes the server's directory, so the tests need not drop what they created.
export TEST_DATABASE_THROWAWAY=1
pg_stop() { "${PG_RUN_AS[@]}" "$pg_bin/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; }
