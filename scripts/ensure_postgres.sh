#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 (the machine's local cluster,
# trust auth, database `test`). Starts the cluster if it is down, waits up to
# 30 s, and exits non-zero with a loud message if it never answers.
# Used by .ci/run and reusable from the Makefile: `bash scripts/ensure_postgres.sh`.
# Env overrides: PG_HOST (127.0.0.1), PG_PORT (5432), PG_WAIT_SECONDS (30), PG_DATABASE (test).
set -euo pipefail

host="${PG_HOST:-127.0.0.1}"
port="${PG_PORT:-5432}"
wait_seconds="${PG_WAIT_SECONDS:-30}"
database="${PG_DATABASE:-test}"

die() { printf '\n!!! ensure_postgres: %s\n\n' "$*" >&2; exit 1; }

command -v pg_isready >/dev/null 2>&1 || die "pg_isready not found: PostgreSQL client tools are not installed (apt-get install postgresql)"

if pg_isready -q -h "$host" -p "$port"; then
    echo "ensure_postgres: PostgreSQL already accepting connections on $host:$port"
else
    echo "ensure_postgres: PostgreSQL not answering on $host:$port; starting the local cluster"
    [ -d /etc/postgresql ] || die "/etc/postgresql missing: no PostgreSQL cluster installed on this machine"
    versions=$(ls /etc/postgresql)
    [ -n "$versions" ] || die "no PostgreSQL version under /etc/postgresql"
    for version in $versions; do
        # --skip-systemctl-redirect: there is no systemd here. A cluster that is
        # already running makes pg_ctlcluster exit 2, which is fine.
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || echo "ensure_postgres: pg_ctlcluster $version main start exited $?"
    done
    deadline=$((SECONDS + wait_seconds))
    until pg_isready -q -h "$host" -p "$port"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            for version in $versions; do
                tail -n 20 "/var/log/postgresql/postgresql-$version-main.log" >&2 2>/dev/null || true
            done
            die "PostgreSQL did not answer on $host:$port within ${wait_seconds}s"
        fi
        sleep 1
    done
    echo "ensure_postgres: PostgreSQL is up on $host:$port"
fi

# The tests expect database "$database"; create it if it is missing.
if ! psql -X -q -h "$host" -p "$port" -U postgres -d "$database" -c 'SELECT 1' >/dev/null 2>&1; then
    echo "ensure_postgres: database '$database' not reachable as user postgres; trying to create it"
    createdb -h "$host" -p "$port" -U postgres "$database" || die "could not connect to or create database '$database' on $host:$port"
fi
echo "ensure_postgres: database '$database' OK"
