#!/bin/sh
# Container start: the deploy steps `make run` also runs, then the server.
set -e
python manage.py migrate --noinput
python manage.py ensure_indexes
if [ "${SEED_DEMO:-false}" = "true" ]; then
  python manage.py seed_demo
fi
exec "$@"
