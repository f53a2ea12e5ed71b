# Portal: the two commands a newcomer needs are `make run` and `make test`.
# Everything else here is what those two build on; each step is idempotent and
# skips itself when its result is already there.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
BUN_VERSION := 1.4.5
BUN := .tools/bun/node_modules/@oven/bun-linux-x64/bin/bun
DEV_IDP := tests/support/dev_idp/node_modules/.package-lock.json
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: run test install system-test-deps lint typecheck lock test-fast test-e2e test-production test-faults clean

## run: install what is missing, migrate and seed the SQLite database, serve the portal on :3000
run: install
	$(VENV)/bin/portal run

## test: install what the tests need (Chromium, PostgreSQL, Redis) and run the suite (not the production tier)
test: install system-test-deps $(DEV_IDP)
	$(VENV)/bin/pytest --ignore=tests/faults $(PYTEST_ARGS)

## test-fast: unit and integration tiers only (no browser)
test-fast: install $(DEV_IDP)
	$(VENV)/bin/pytest --ignore=tests/faults -m "not e2e and not production" $(PYTEST_ARGS)

## test-e2e: the end-to-end tier alone (Chromium)
test-e2e: install system-test-deps $(DEV_IDP)
	$(VENV)/bin/pytest -m e2e $(PYTEST_ARGS)

## test-faults: the fault tier alone (two to three minutes; not in make test): processes killed, PostgreSQL restarted
test-faults: install system-test-deps
	$(VENV)/bin/pytest -m faults tests/faults $(PYTEST_ARGS)

## test-production: the production tier alone: portal run on PostgreSQL and Redis, several workers, in Chromium
test-production: install system-test-deps
	$(VENV)/bin/pytest -m production tests/production $(PYTEST_ARGS)

install: $(STAMP) $(BUN)

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): requirements.lock pyproject.toml | $(PY)
	$(UV) pip sync --quiet --python $(PY) --require-hashes requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps --editable .
	rm -f $(VENV)/.installed-*
	touch $@

# Reflex would download bun from the internet; take the same binary from the npm registry.
$(BUN):
	npm install --silent --no-save --no-package-lock --prefix .tools/bun @oven/bun-linux-x64@$(BUN_VERSION)

# The local OpenID Connect provider the sign-in tests run against (from the npm registry, pinned by its lockfile).
$(DEV_IDP): tests/support/dev_idp/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/support/dev_idp

# Debian's Chromium for Playwright (never a browser download), PostgreSQL for the database tests and Redis for the
# production tier (Reflex's state shared by several workers).
system-test-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing from Debian's packages"; \
	  $(SUDO) apt-get install -y -q $$missing || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; }; \
	fi

## lint: ruff and formatting
lint: install
	$(VENV)/bin/ruff check portal tests alembic
	$(VENV)/bin/ruff format --check portal tests alembic

## typecheck: mypy (strict) on everything but the UI (domain, services, db, api, payments, auth, benchmarks, CLI)
typecheck: install
	$(VENV)/bin/mypy

## lock: re-resolve the pinned, hashed dependency lock from pyproject.toml
lock: | $(PY)
	$(UV) pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 --no-header --no-annotate -o requirements.lock

clean:
	rm -rf .web .states data test-results
