#!/usr/bin/env bash
# The local MongoDB-compatible server of the embedded default (mongoeco, SQLite-file
# engine, data in VAR_DIR/mongo.sqlite3), which `make run` starts and stops itself.
#   scripts/localmongo.sh start   start it in the background (pid in VAR_DIR/mongo.pid)
#   scripts/localmongo.sh stop    stop this checkout's server, whoever started it
# Only the process named in this checkout's pid file is ever signalled: other checkouts'
# servers on the same machine are left alone. A server started by hand while `make run`
# is up is stopped by `make run` when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/python.sh

if [ -x .venv/bin/python ] && [ -f .env ]; then eval "$(.venv/bin/python scripts/env_exports.py .env)"; fi
mkdir -p "${VAR_DIR:-var}"
VAR_DIR="$(cd "${VAR_DIR:-var}" && pwd)"
MONGO_PORT="${MONGOECO_PORT:-27018}"
PIDFILE="$VAR_DIR/mongo.pid"

running_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  # The pid must still be this checkout's server, not a recycled pid.
  [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "rappi.localmongo --path $VAR_DIR/mongo.sqlite3" \
    && echo "$pid"
}

case "${1:-}" in
  start)
    if pid=$(running_pid); then echo "Already running (pid $pid)."; exit 0; fi
    ensure_venv requirements-local.txt
    if .venv/bin/python -c "import socket,sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $MONGO_PORT)) != 0)"; then
      echo "Port $MONGO_PORT is taken (another 'make run'?). Stop it, or set MONGOECO_PORT." >&2
      exit 1
    fi
    # Its own session, so a Ctrl-C meant for `make run` does not reach it before the app
    # has closed its connections.
    setsid .venv/bin/python -m rappi.localmongo --path "$VAR_DIR/mongo.sqlite3" --port "$MONGO_PORT" \
      >>"$VAR_DIR/mongo.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    .venv/bin/python - "$MONGO_PORT" <<'PY' || { tail -20 "$VAR_DIR/mongo.log" >&2; exit 1; }
import sys, time
from pymongo import MongoClient
uri = f"mongodb://127.0.0.1:{sys.argv[1]}/?directConnection=true"
deadline = time.monotonic() + 30
while True:
    try:
        MongoClient(uri, serverSelectionTimeoutMS=1000).admin.command("ping")
        break
    except Exception as exc:
        if time.monotonic() > deadline:
            sys.exit(f"local MongoDB-compatible server did not start: {exc}")
        time.sleep(0.3)
PY
    echo "Local MongoDB-compatible server on port $MONGO_PORT (data in $VAR_DIR/mongo.sqlite3)"
    ;;
  stop)
    if pid=$(running_pid); then
      kill -TERM "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "Stopped the local MongoDB-compatible server (pid $pid)."
    else
      echo "The local MongoDB-compatible server is not running."
    fi
    rm -f "$PIDFILE"
    ;;
  *)
    echo "usage: scripts/localmongo.sh start|stop" >&2
    exit 2
    ;;
esac
