# The two front-door commands: `make run` and `make test` (see README.md).
# Both set up everything they need themselves: virtualenv, dependencies, database.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# Development defaults for `make run` (documented in README.md); never used in production.
RUN_ENV := DEBUG=$${DEBUG:-1} PORT=$(PORT) \
	DEMO_USERNAME=$${DEMO_USERNAME:-demo} DEMO_PASSWORD=$${DEMO_PASSWORD:-demo-password} \
	ADMIN_USERNAME=$${ADMIN_USERNAME:-admin} ADMIN_PASSWORD=$${ADMIN_PASSWORD:-admin-password}

# The test suite runs production-like (DEBUG off) with the conformance fixtures on.
TEST_ENV := DEBUG=0 SECRET_KEY=test-secret-key-not-for-production MCP_CONFORMANCE_FIXTURES=1 \
	CIMD_FETCHER=tests.support.cimd_stub.StubFetcher

.PHONY: run test setup lint format clean doctor

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.dev

run: $(VENV)/.runtime
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py createcachetable
	$(RUN_ENV) $(PY) manage.py seed_users
	@$(RUN_ENV) $(PY) manage.py mcp_url
	@$(RUN_ENV) $(PY) manage.py sso_callback_urls
	$(RUN_ENV) $(VENV)/bin/gunicorn config.asgi:application -c gunicorn.conf.py

# `make doctor URL=https://…/mcp`: the discovery doctor against any MCP server (default: this one under
# `make run`). It only reads the network, so it needs none of this project's settings.
URL ?= http://127.0.0.1:$(PORT)/mcp
doctor: $(VENV)/.runtime
	$(PY) manage.py mcp_doctor "$(URL)" $(DOCTOR_ARGS)

# `make demo`: the narrated discovery chain (headless, as the demo user) against DEMO_URL, ending in
# a tool call and the step-up; when nothing answers there, the stack is started for the demo and
# stopped after it. Another server: make demo DEMO_URL=http://localhost:8080/mcp DEMO_PASSWORD=...
# Machine-readable output: make demo DEMO_ARGS=--json
DEMO_URL ?= http://127.0.0.1:$(PORT)/mcp
.PHONY: demo
demo: $(VENV)/.runtime
	$(RUN_ENV) $(PY) manage.py mcp_demo --start-server --url "$(DEMO_URL)" \
		--username "$${DEMO_USERNAME:-demo}" --password "$${DEMO_PASSWORD:-demo-password}" $(DEMO_ARGS)

# The browser tests (tests/test_browser*.py) drive Debian's Chromium, installed here when missing
# (CI runs as root; elsewhere, install the `chromium` package yourself).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@test "$$(id -u)" = 0 || { echo "Chromium is missing: install the chromium package (apt-get install chromium)"; exit 1; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# SQLite always; PostgreSQL too when DATABASE_URL points at one.
test: $(VENV)/.dev $(CHROMIUM)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m tests.support.function_length
	env -u DATABASE_URL $(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)
	@case "$${DATABASE_URL:-}" in \
	  postgres://*|postgresql://*) echo "== again on PostgreSQL ($${DATABASE_URL%%@*}@…)"; \
	    $(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS) ;; \
	  *) echo "== DATABASE_URL is not PostgreSQL: the PostgreSQL run was not done" ;; \
	esac

# `make bench`: this server against the MCP SDK's own auth stack, side by side, and
# docs/performance.md from the figures (bench/README.md). Not part of `make test`; about 40 minutes.
# Knobs are environment variables: DURATION=3 ROUNDS=1 make bench (short), PHASES, SCENARIOS, ...
WRK := /usr/bin/wrk
$(WRK):
	@test "$$(id -u)" = 0 || { echo "wrk is missing: install the wrk package (apt-get install wrk)"; exit 1; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk

.PHONY: bench
bench: $(VENV)/.runtime $(WRK)
	$(PY) bench/run.py

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m tests.support.function_length

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache db.sqlite3 db.sqlite3-shm db.sqlite3-wal
