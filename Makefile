# Estate: `make demo` runs the whole thing against the embedded sandbox,
# `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Two test processes: the suite waits on the sandbox, browsers and workers as much as
# it computes, so two cores run it in about half the time.
PYTEST_ARGS ?= -n 2

.PHONY: install demo test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	@mkdir -p var/broker/queue var/broker/processed var/broker/control
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py demo_users
	@echo "Starting the sandbox, web (http://127.0.0.1:8000), worker and beat; Ctrl-C stops them all."
	DEBUG=1 $(VENV)/bin/honcho -f Procfile.demo start

test: install
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var/* staticfiles test-artifacts
