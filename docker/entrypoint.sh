#!/bin/sh
# What the web container does on start, and exactly what the deploy tests run as a process:
#   1. wait for the database, then migrate, create the cache table and seed the users from the
#      environment (docker/prestart.py; replicas starting together take turns);
#   2. serve: gunicorn with uvicorn workers (gunicorn.conf.py reads BIND, WEB_CONCURRENCY and
#      FORWARDED_ALLOW_IPS).
# With arguments it runs them instead (e.g. `docker compose run --rm web python manage.py shell`).
set -eu
cd "$(dirname "$0")/.."

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

python docker/prestart.py
exec python -m gunicorn config.asgi:application -c gunicorn.conf.py
