#!/bin/bash
# Entrypoint of the lab's Postgres image (Debian postgresql-15), with the official image's contract:
#   POSTGRES_PASSWORD | POSTGRES_PASSWORD_FILE   superuser password (required, unless POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_USER      superuser name (default postgres)
#   POSTGRES_DB        database created on first start (default: POSTGRES_USER)
#   POSTGRES_INITDB_ARGS  extra initdb arguments;  POSTGRES_HOST_AUTH_METHOD  pg_hba method (default scram-sha-256)
#   PGDATA             data directory (default /var/lib/postgresql/data, a volume)
#   /docker-entrypoint-initdb.d/*.sql|*.sh  run once, on first start, against POSTGRES_DB
# Runs as root (drops to `postgres` after fixing the volume's ownership) or directly as the postgres user.
# Arguments starting with '-' are passed to postgres (e.g. `-c max_connections=50`).
set -Eeuo pipefail

PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
export PATH="$PGBIN:$PATH"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ "${1:0:1}" = '-' ] || [ $# -eq 0 ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

file_env() {  # VAR or VAR_FILE (a secret file), not both
  local var="$1" file="${1}_FILE" def="${2:-}"
  if [ -n "${!var:-}" ] && [ -n "${!file:-}" ]; then
    echo "postgres entrypoint: set $var or $file, not both" >&2; exit 1
  fi
  local val="$def"
  if [ -n "${!var:-}" ]; then val="${!var}"; elif [ -n "${!file:-}" ]; then val="$(< "${!file}")"; fi
  export "$var"="$val"
  unset "$file"
}
file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
AUTH="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$AUTH" != trust ]; then
    echo "postgres entrypoint: the database is uninitialized and POSTGRES_PASSWORD is not set." >&2
    echo "  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), or POSTGRES_HOST_AUTH_METHOD=trust (not for production)." >&2
    exit 1
  fi
  mkdir -p "$PGDATA"; chmod 700 "$PGDATA"
  pwfile=$(mktemp); printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host="$AUTH" \
         --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  {
    echo "listen_addresses = '*'"
    echo "unix_socket_directories = '/var/run/postgresql'"
  } >> "$PGDATA/postgresql.conf"
  echo "host all all all $AUTH" >> "$PGDATA/pg_hba.conf"

  # a private, socket-only server for the one-time setup
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
  psql=(psql -v ON_ERROR_STOP=1 -h /var/run/postgresql --username "$POSTGRES_USER" --no-password --no-psqlrc -q)
  if [ "$POSTGRES_DB" != postgres ]; then
    echo 'CREATE DATABASE :"db";' | "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB"
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) echo "postgres entrypoint: running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sh)  echo "postgres entrypoint: running $f"; . "$f" ;;
      *) ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres entrypoint: initialized $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi
unset POSTGRES_PASSWORD

exec postgres -D "$PGDATA" "${@:2}"
