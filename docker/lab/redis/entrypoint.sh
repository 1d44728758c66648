#!/bin/sh
# Entrypoint of the lab's Redis image (Debian redis-server), with the official image's contract:
#   arguments starting with '-' are options for redis-server; `redis-server ...` runs as the redis user (dropping root
#   after fixing /data's ownership); anything else is executed as given.
#   Without a config file argument, Redis listens on all interfaces with protected mode off (the network is private)
#   and keeps its files in /data (a volume).
#   REDIS_PASSWORD or REDIS_PASSWORD_FILE (optional, a lab addition): adds --requirepass without putting the password
#   on the command line of the compose file.
set -eu

if [ "${1#-}" != "$1" ] || [ $# -eq 0 ]; then
  set -- redis-server "$@"
fi
if [ "$1" != redis-server ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p /data
  find /data \! -user redis -exec chown redis:redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

shift
case "${1:-}" in
  *.conf) conf="$1"; shift; set -- "$conf" "$@" ;;
  *) set -- --bind '* -::*' --protected-mode no --dir /data "$@" ;;
esac
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
  REDIS_PASSWORD=$(cat "$REDIS_PASSWORD_FILE")
fi
if [ -n "${REDIS_PASSWORD:-}" ]; then
  # passed as a config on stdin (a here-document), so the password is not visible in `ps`
  pass="$REDIS_PASSWORD"; unset REDIS_PASSWORD REDIS_PASSWORD_FILE
  exec redis-server - "$@" <<CONF
requirepass "$pass"
CONF
fi
exec redis-server "$@"
