# The web image: the co-located authorization server and MCP resource server, served by gunicorn
# with uvicorn workers. docker-compose.yml builds it; docker/entrypoint.sh is what it runs.

# --- Build stage: the virtualenv with the pinned runtime dependencies -------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements.txt .
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --requirement requirements.txt

# --- Final stage: the same slim base, the virtualenv, the code; no compiler, no pip cache --------
FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BIND=0.0.0.0:8000 \
    GUNICORN_CMD_ARGS="--worker-tmp-dir /dev/shm"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY . .
# Static files are collected once, here, and served by whitenoise with hashed names and gzip.
# settings.py switches to the manifest storage when staticfiles/staticfiles.json exists, so an
# empty manifest goes first and collectstatic replaces it. The key is a placeholder for this
# one command (settings refuse to load without one); the running container gets the real one.
RUN mkdir -p staticfiles \
    && echo '{"paths": {}, "version": "1.1"}' > staticfiles/staticfiles.json \
    && SECRET_KEY=collectstatic-placeholder DEBUG=0 python manage.py collectstatic --noinput --verbosity 0
# Code and static files stay owned by root: the server cannot change them.
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "/healthz"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
