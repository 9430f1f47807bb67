#!/bin/sh
# Validates the deployment files without a container engine (.ci/run runs this before the tests;
# tests/test_deploy_files.py checks their structure and lints the Dockerfile too):
#   - the compose files, with the real Compose implementation: `docker compose config` when the
#     docker CLI has the compose plugin, else `docker-compose config` (Debian's docker-compose,
#     installed with apt-get in CI when missing); without either, only the Python structural
#     check of tests/test_deploy_files.py remains, and this says so;
#   - that compose refuses to start while the secrets are unset (no secret has a default);
#   - the Dockerfile with hadolint, docker/Caddyfile with caddy (both pinned in
#     requirements-dev.txt), and the shell scripts with `sh -n` and, when present, shellcheck.
set -eu
cd "$(dirname "$0")/.."
bin=.venv/bin

compose=""
if docker compose version >/dev/null 2>&1; then
    compose="docker compose"
elif command -v docker-compose >/dev/null 2>&1; then
    compose="docker-compose"
elif [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian's docker-compose and shellcheck to validate the deployment files"
    if apt-get update -qq >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose shellcheck >/dev/null 2>&1; then
        compose="docker-compose"
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp docker-compose.yml docker-compose.split.yml Dockerfile "$work"/
cp -R docker "$work"/docker
cp .env.example "$work"/.env

if [ -n "$compose" ]; then
    echo "== compose files: $($compose version --short 2>/dev/null || $compose version | head -1) config"
    if (cd "$work" && $compose config -q >/dev/null 2>&1); then
        echo "docker-compose.yml starts with the secrets of .env.example left empty" >&2
        exit 1
    fi
    # The values a user fills in; the later lines win over the empty ones above them.
    printf '%s\n' SECRET_KEY=check MCP_SECRET_KEY=check POSTGRES_PASSWORD=check \
        INTROSPECTION_CLIENT_SECRET=check ADMIN_PASSWORD=check >>"$work"/.env
    (cd "$work" && $compose -f docker-compose.yml config -q)
    (cd "$work" && $compose -f docker-compose.yml --profile proxy config -q)
    (cd "$work" && $compose -f docker-compose.split.yml config -q)
    echo "compose files valid"
else
    echo "== compose files: no Compose implementation here; only the structural check (tests/test_deploy_files.py) validates them"
fi

echo "== Dockerfile: $($bin/hadolint --version)"
$bin/hadolint Dockerfile
echo "Dockerfile clean"

echo "== docker/Caddyfile: caddy $($bin/caddy version | cut -d' ' -f1) validate"
if ! out=$(PUBLIC_URL=https://mcp.example.com HOME="$work" XDG_DATA_HOME="$work" XDG_CONFIG_HOME="$work" \
    $bin/caddy validate --config docker/Caddyfile --adapter caddyfile 2>&1); then
    echo "$out" >&2
    exit 1
fi
echo "Caddyfile valid"

echo "== shell scripts"
for script in docker/*.sh; do
    sh -n "$script"
done
bash -n .ci/run
if command -v shellcheck >/dev/null 2>&1; then
    shellcheck docker/*.sh
    echo "shell scripts clean (shellcheck $(shellcheck --version | sed -n 's/^version: //p'))"
else
    echo "shell scripts parse (shellcheck not installed)"
fi
