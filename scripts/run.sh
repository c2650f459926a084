#!/usr/bin/env bash
# `make run`: the app with demo data. With no DATABASE_URL it uses a SQLite file, with no
# MONGODB_URI it starts a local MongoDB-compatible server (mongoeco, SQLite-file engine);
# both keep their data under VAR_DIR (default var/). The local server stops with the app.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/python.sh
ensure_venv requirements-local.txt

# Settings may come from a .env file, read by python-dotenv as the app reads it; the
# environment wins over it.
if [ -f .env ]; then eval "$(.venv/bin/python scripts/env_exports.py .env)"; fi

export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-rappi.settings.local}"
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8000}"
# Payment return links and the simulated checkout URL point at this server.
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://$HOST:$PORT}"
mkdir -p "${VAR_DIR:-var}"
VAR_DIR="$(cd "${VAR_DIR:-var}" && pwd)"
export VAR_DIR

if .venv/bin/python -c "import socket,sys; sys.exit(socket.socket().connect_ex(('$HOST', $PORT)) != 0)"; then
  echo "Port $PORT is taken (another 'make run'?). Stop it, or set PORT." >&2
  exit 1
fi

LOCAL_MONGO=""
APP_PID=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$APP_PID" ] && kill -TERM "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null
  # Whichever local server is up now, also one restarted by hand meanwhile.
  [ -n "$LOCAL_MONGO" ] && bash scripts/localmongo.sh stop >/dev/null
  return 0
}
trap cleanup EXIT INT TERM

if [ -z "${MONGODB_URI:-}" ]; then
  LOCAL_MONGO=1
  bash scripts/localmongo.sh start
  export MONGODB_URI="mongodb://127.0.0.1:${MONGOECO_PORT:-27018}/rappi?directConnection=true"
fi

.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py ensure_indexes
.venv/bin/python manage.py seed_demo
.venv/bin/python manage.py collectstatic --noinput -v0
# The Spanish catalogue is committed compiled; an edited .po is recompiled here (with GNU
# gettext's msgfmt), so the change shows without a separate step.
for po in locale/*/LC_MESSAGES/django.po; do
  if [ "$po" -nt "${po%.po}.mo" ] && command -v msgfmt >/dev/null; then
    .venv/bin/python manage.py compilemessages -v0 --ignore '.venv/*' --ignore 'var/*'
    break
  fi
done

cat <<TXT

  Rappi is running on http://$HOST:$PORT
    API docs   http://$HOST:$PORT/api/docs/
    Admin      http://$HOST:$PORT/admin/
    Status     http://$HOST:$PORT/readyz
  Demo logins: the seed's list above (password demo12345).
  Stop with Ctrl-C.

TXT
# gunicorn gets its own session as well: a Ctrl-C reaches only this script, whose trap
# stops gunicorn gracefully (TERM), then the local MongoDB-compatible server.
setsid .venv/bin/gunicorn rappi.wsgi:application -c gunicorn.conf.py &
APP_PID=$!
wait "$APP_PID"
