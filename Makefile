# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
ACS_HOST ?= 127.0.0.1
ACS_PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: run run-cluster test test-sqlite test-postgres lint format venv migrate seed bench bench-quick

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

# umask 077: what make run creates (var/, the SQLite file, media, static)
# is its owner's only; settings and acs_seed see to the secrets themselves.
migrate: venv
	umask 077; $(BIN)/python manage.py migrate --noinput

seed: migrate
	umask 077; $(BIN)/python manage.py acs_seed

# Server (granian, ASGI: HTTP and WebSockets; acsportal/serve.py says why not
# daphne) plus the job worker; Ctrl-C stops both.
run: seed
	@echo "Starting the job worker and the server on http://$(ACS_HOST):$(ACS_PORT)/"
	@umask 077; trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	$(BIN)/python manage.py db_worker & \
	$(BIN)/python -m acsportal.serve --host $(ACS_HOST) --port $(ACS_PORT)

# The scaled-out deployment on this machine: PostgreSQL + Redis, nginx balancing
# ACS_WEB_WORKERS granian WSGI processes, daphne for /ws/, ACS_JOB_WORKERS job
# workers (README, "Scaling out"); Ctrl-C stops everything.
run-cluster: venv
	scripts/run-cluster.sh

# The whole suite on SQLite, then on PostgreSQL + Redis where they answer.
test: venv
	@status=0; \
	echo "== Lint: ruff, mypy and the import contracts (.importlinter)"; \
	$(BIN)/ruff check --quiet . && $(BIN)/mypy --no-error-summary && $(BIN)/lint-imports --no-cache --no-logo || status=1; \
	echo "== SQLite, in-process cache and channel layer"; \
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest || status=1; \
	if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then \
		echo "== PostgreSQL + Redis"; \
		DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) $(BIN)/python -m pytest || status=1; \
	else \
		echo "== PostgreSQL/Redis not answering on 127.0.0.1: skipped that run"; \
	fi; \
	exit $$status

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Issue 5's benchmark: the real server stack (daphne, granian WSGI) on a fresh
# SQLite database and, when they answer, a fresh PostgreSQL database + Redis
# (there also nginx over 1 and 2 web workers, and twice the capacity as an
# open-loop load), driven by the CPE simulator in its own process; and the
# simulator's memory for 10,000 devices. Writes
# bench/results/<UTC date-time>.json and .md and prints the table; under 15
# minutes on 2 cores. BENCH_ARGS passes options (`python -m bench --help`),
# e.g. make bench BENCH_ARGS="--scenarios periodic --profile".
BENCH_ARGS ?=

bench: venv
	$(BIN)/python -m bench --pg-url $(PG_URL) $(BENCH_ARGS)

# The two-minute version (fewer devices, short phases).
bench-quick: venv
	$(BIN)/python -m bench --quick --pg-url $(PG_URL) $(BENCH_ARGS)
