#!/usr/bin/env bash
# `make run`: the app with demo data. With no DATABASE_URL it uses a SQLite file, with no
# MONGODB_URI it starts a local MongoDB-compatible server (mongoeco, SQLite-file engine);
# both keep their data under VAR_DIR (default var/). The local server stops with the app.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/python.sh
ensure_venv requirements.txt

# Settings may come from a .env file; the environment wins over it, as in the app itself.
if [ -f .env ]; then
  while IFS='=' read -r name value; do
    case "$name" in ''|\#*) continue ;; esac
    [ -z "${!name+x}" ] && export "$name=$value"
  done < .env
fi

export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-rappi.settings.local}"
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8000}"
# Payment return links and the simulated checkout URL point at this server.
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://$HOST:$PORT}"
mkdir -p "${VAR_DIR:-var}"
VAR_DIR="$(cd "${VAR_DIR:-var}" && pwd)"
export VAR_DIR

MONGO_PID=""
APP_PID=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$APP_PID" ] && kill -TERM "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null
  [ -n "$MONGO_PID" ] && kill -TERM "$MONGO_PID" 2>/dev/null && wait "$MONGO_PID" 2>/dev/null
  return 0
}
trap cleanup EXIT INT TERM

if [ -z "${MONGODB_URI:-}" ]; then
  MONGO_PORT="${MONGOECO_PORT:-27018}"
  if .venv/bin/python -c "import socket,sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $MONGO_PORT)) != 0)"; then
    echo "Port $MONGO_PORT is taken (another 'make run'?). Stop it, or set MONGOECO_PORT." >&2
    exit 1
  fi
  # Own session: a Ctrl-C in the terminal stops gunicorn first; the cleanup trap stops
  # this server after the workers have closed their connections.
  setsid .venv/bin/python -m rappi.localmongo --path "$VAR_DIR/mongo.sqlite3" --port "$MONGO_PORT" \
    >"$VAR_DIR/mongo.log" 2>&1 &
  MONGO_PID=$!
  export MONGODB_URI="mongodb://127.0.0.1:$MONGO_PORT/rappi?directConnection=true"
  .venv/bin/python - <<'PY' || { cat "$VAR_DIR/mongo.log" >&2; exit 1; }
import os, sys, time
from pymongo import MongoClient
deadline = time.monotonic() + 30
while True:
    try:
        MongoClient(os.environ["MONGODB_URI"], serverSelectionTimeoutMS=1000).admin.command("ping")
        break
    except Exception as exc:
        if time.monotonic() > deadline:
            sys.exit(f"local MongoDB-compatible server did not start: {exc}")
        time.sleep(0.3)
PY
  kill -0 "$MONGO_PID" 2>/dev/null || { cat "$VAR_DIR/mongo.log" >&2; exit 1; }
  echo "Local MongoDB-compatible server: $MONGODB_URI (data in $VAR_DIR/mongo.sqlite3)"
fi

.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py ensure_indexes
.venv/bin/python manage.py seed_demo
.venv/bin/python manage.py collectstatic --noinput -v0

cat <<TXT

  Rappi is running on http://$HOST:$PORT
    API docs   http://$HOST:$PORT/api/docs/
    Admin      http://$HOST:$PORT/admin/
    Status     http://$HOST:$PORT/readyz
  Demo logins (password demo12345): admin@rappi.pe, dispatcher@rappi.pe,
    driver1@rappi.pe, customer1@rappi.pe
  Stop with Ctrl-C.

TXT
# gunicorn gets its own session as well: a Ctrl-C reaches only this script, whose trap
# stops gunicorn gracefully (TERM), then the local MongoDB-compatible server.
setsid .venv/bin/gunicorn rappi.wsgi:application -c gunicorn.conf.py &
APP_PID=$!
wait "$APP_PID"
