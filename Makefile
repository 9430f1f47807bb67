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

.PHONY: run test setup lint format clean

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
	@echo "Serving on http://127.0.0.1:$(PORT) (MCP endpoint: http://127.0.0.1:$(PORT)/mcp)"
	$(RUN_ENV) $(VENV)/bin/gunicorn config.asgi:application -c gunicorn.conf.py

# SQLite always; PostgreSQL too when DATABASE_URL points at one.
test: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	env -u DATABASE_URL $(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)
	@case "$${DATABASE_URL:-}" in \
	  postgres://*|postgresql://*) echo "== again on PostgreSQL ($${DATABASE_URL%%@*}@…)"; \
	    $(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS) ;; \
	  *) echo "== DATABASE_URL is not PostgreSQL: the PostgreSQL run was not done" ;; \
	esac

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache db.sqlite3 db.sqlite3-shm db.sqlite3-wal
