#!/bin/sh
# The scheduled cleanup (the compose service `cleanup`): every CLEANUP_INTERVAL seconds (default
# 3600) it deletes
#   - never-used self-registered clients, expired tokens (django-oauth-toolkit's cleartokens),
#     old code records and rate-limit counters: manage.py prune_clients;
#   - expired URL-identified (CIMD) clients that hold no live token: manage.py clearcimdapplications.
# `cleanup.sh --once` runs one round and exits with its status.
set -eu
cd "$(dirname "$0")/.."

round() {
    # --skip-checks: the system checks import every URL and view (seconds per round) and guard
    # nothing a cleanup needs.
    python manage.py prune_clients --skip-checks && python manage.py clearcimdapplications --skip-checks
}

if [ "${1:-}" = "--once" ]; then
    round
    exit $?
fi

trap 'exit 0' TERM INT
interval="${CLEANUP_INTERVAL:-3600}"
while :; do
    round || echo '{"level": "ERROR", "logger": "cleanup", "message": "cleanup round failed; next try in one interval"}' >&2
    # Sleep in the background so that a stop signal ends the wait at once.
    sleep "$interval" &
    wait $!
done
