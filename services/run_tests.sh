#!/bin/sh
# Run the services' pytest suites on this machine: services/run_tests.sh [common] [api] [analytics] [dashboard]
# (common: graphmemory_common, the metrics and logging code the API and analytics share)
# Makes (or reuses) a venv with the hash-pinned requirements of all three services plus their test requirements.
# The API's and analytics' suites start a real Postgres 15 and Redis on loopback themselves (Debian packages
# postgresql-15 and redis-server; run `apt-get install -y postgresql-15 redis-server` once), unless TEST_DATABASE_URL /
# TEST_REDIS_URL point at running ones. Exit status: non-zero if any suite failed.
set -eu
cd "$(dirname "$0")"
VENV="${GMI_SERVICES_VENV:-${TMPDIR:-/tmp}/gmi-services-venv}"
PY="${PYTHON:-python3}"
SUITES="${*:-common api analytics dashboard}"

if [ -z "${TEST_DATABASE_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "run_tests: Postgres server binaries not found: apt-get install -y postgresql-15 (or set TEST_DATABASE_URL)" >&2
  exit 2
fi
if [ -z "${TEST_REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then
  echo "run_tests: redis-server not found: apt-get install -y redis-server (or set TEST_REDIS_URL)" >&2
  exit 2
fi

stamp="$VENV/.requirements.sha256"
want=$(cat api/requirements*.txt analytics/requirements*.txt dashboard/requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes --only-binary=:all: \
    -r api/requirements.txt -r api/requirements-test.txt \
    -r analytics/requirements.txt -r analytics/requirements-test.txt \
    -r dashboard/requirements.txt -r dashboard/requirements-test.txt
  echo "$want" > "$stamp"
fi

rc=0
for s in $SUITES; do
  echo "== services/$s"
  (cd "$s" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests) || rc=1
done
exit $rc
