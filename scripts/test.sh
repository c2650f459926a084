#!/usr/bin/env bash
# The whole suite against a real PostgreSQL (DATABASE_URL, or a throwaway cluster started
# here) and a real MongoDB-compatible server (MONGODB_URI, or mongoeco started by the
# tests). Everything started here is stopped on exit, failures included.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/python.sh
ensure_venv requirements-dev.txt

PGTMP=""
PGBIN=""
# initdb refuses to run as root: the cluster belongs to the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  if [ -n "$PGTMP" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PGTMP"
  fi
}
trap cleanup EXIT INT TERM

find_pgbin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

APT_UPDATED=""
# Installs Debian packages when running as root on Debian; false otherwise.
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  [ -n "$APT_UPDATED" ] || { apt-get update -qq && APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Browser tests drive the system Chromium (Playwright downloads no browser here).
if [ -z "${CHROMIUM:-}" ] && ! [ -x /usr/bin/chromium ]; then
  echo "Installing Chromium for the browser tests (Debian package 'chromium')..."
  apt_install --no-install-recommends chromium || echo "No Chromium: the browser tests fail; set CHROMIUM=/path/to/chromium." >&2
fi
# Translation catalogues are compared with what GNU gettext compiles from them.
command -v msgfmt >/dev/null || apt_install gettext || true

# The compose file is checked by `docker-compose config`, which needs no Docker engine.
if ! command -v docker-compose >/dev/null && ! docker compose version >/dev/null 2>&1; then
  echo "Installing the docker-compose CLI (Debian package 'docker-compose')..."
  apt_install docker-compose || echo "No docker-compose CLI: the compose file check is skipped." >&2
fi

if [ -z "${DATABASE_URL:-}" ]; then
  if ! PGBIN=$(find_pgbin); then
    if apt_install postgresql; then
      echo "Installed PostgreSQL server binaries (Debian package 'postgresql')."
      PGBIN=$(find_pgbin)
    else
      echo "PostgreSQL is required: set DATABASE_URL, or install the 'postgresql' package." >&2
      exit 1
    fi
  fi
  PGTMP=$(mktemp -d)
  chown postgres:postgres "$PGTMP" 2>/dev/null || true
  PGPORT=${PGPORT_TEST:-$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  as_pg "$PGBIN/initdb" -D "$PGTMP/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w \
    -o "-k $PGTMP -p $PGPORT -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/rappi"
  echo "Throwaway PostgreSQL on port $PGPORT"
fi

export DJANGO_SETTINGS_MODULE=rappi.settings.test
.venv/bin/python -m pytest "$@"
