"""gunicorn settings for every way the stack is served (`make run`, the container, the tests).

gunicorn reads WEB_CONCURRENCY itself for the worker count; stateful MCP sessions live in one
process's memory, so MCP_STATEFUL=1 pins it to one worker.
"""

import gc
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
worker_class = "uvicorn_worker.UvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
if os.environ.get("MCP_STATEFUL", "").strip().lower() in {"1", "true", "yes", "on"}:
    workers = 1
# Long enough for a slow tool call; SSE responses end with the call.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
# Proxy headers (X-Forwarded-Proto, X-Forwarded-For) are trusted only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def post_worker_init(worker) -> None:
    """Freeze what the worker has loaded (Django, the MCP SDK, the application): it lives as long
    as the worker, and without this every full garbage collection walks all of it again. Under
    load that showed as latency spikes: p99 of `tools/list` about 220 ms before, 80 ms after, in
    paired runs on the benchmark machine (docs/performance.md)."""
    gc.collect()
    gc.freeze()
