# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint validate bench setup test-deps chromium node migrate clean run-prod stop-prod test-prod status-prod loadtest loadtest-prod

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Reinstall only when the pinned dependencies or the compiled engine's source change (the install builds it).
$(VENV)/.installed: pyproject.toml setup.py simulator/engine/_fast.pyx | $(PY)
	$(PIP) install -e . 2>&1 | grep -v -e "^WARNING: Location" -e "^ *$$" || true
	$(PY) -c "import django, channels, daphne, simpy, plotly, whitenoise, django_htmx, celery, channels_redis, psycopg, aiohttp"
	@$(PY) -c "import simulator.engine._fast" 2>/dev/null || echo "warning: the compiled engine was not built; runs use the pure engine (about 7x slower)"
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e ".[test]" 2>&1 | grep -v -e "^WARNING: Location" -e "^ *$$" || true
	$(PY) -c "import pytest, pytest_django, pytest_asyncio, playwright, hypothesis"
	touch $@

setup: $(VENV)/.installed

migrate: setup
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py load_katas

run: migrate
	$(PY) manage.py collectstatic --noinput -v 0
	@$(PY) manage.py demo_accounts
	@echo ""
	@echo "Kata is serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) config.asgi:application

# Production mode: PostgreSQL, Redis, Daphne and two Celery workers on 127.0.0.1 (see scripts/prod.sh).
run-prod: setup
	scripts/prod.sh start

stop-prod:
	scripts/prod.sh stop

status-prod:
	scripts/prod.sh status

# The integration suite against the real services (fault tests included); stops what it started.
test-prod: test-deps
	scripts/prod.sh test

# N learners pressing Run at once against the server already running (make run / make run-prod).
LEARNERS ?= 20
loadtest: setup
	$(PY) manage.py loadtest --learners $(LEARNERS)

loadtest-prod: setup
	scripts/prod.sh loadtest --learners $(LEARNERS)

test-deps: $(VENV)/.installed-test chromium node

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi
	@test -x /usr/bin/chromium || { echo "chromium is still missing at /usr/bin/chromium"; exit 1; }

# Node's built-in test runner drives the editor's document model (tests/js/) without a browser.
node:
	@if [ ! -x /usr/bin/node ]; then \
		echo "Installing Debian's nodejs for the editor's tests..."; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs >/dev/null; \
	fi
	@test -x /usr/bin/node || { echo "node is still missing at /usr/bin/node"; exit 1; }

# pytest exits 5 when no test ran; make treats that as the failure it is. Either suite failing fails `make test`.
test: test-deps lint
	/usr/bin/node --test tests/js/
	$(PY) -m pytest -m "not slow" --ignore=tests/prod

# ruff over the whole project, mypy over simulator/ (settings in pyproject.toml).
lint: test-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

validate: test-deps
	$(PY) -m pytest -m slow tests/simulator tests/kata

# Speed is checked by benchmarks that print figures and ratios, never by timed tests.
bench: test-deps migrate
	$(PY) -m simulator bench
	$(PY) manage.py bench_workspace --runs 3

clean:
	rm -rf $(VENV) staticfiles artifacts .prod .test-db*.sqlite3* .pytest_cache .hypothesis
