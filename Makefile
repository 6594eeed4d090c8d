# Estate: `make demo` runs the whole thing against the embedded sandbox,
# `make test` runs the whole suite (README "Tests": which tests need which service).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Two test processes: the suite waits on the sandbox, browsers and workers as much as
# it computes, so two cores run it in about half the time.
PYTEST_ARGS ?= -n 2

.PHONY: venv install demo test test-bare lint format clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory venv PYTHON="$(PYTHON)" VENV="$(VENV)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# A venv with a working pip, kept if there is one. `python3 -m venv` needs ensurepip,
# which Debian and Ubuntu ship apart (python3-venv): there it fails, or leaves a venv
# without pip. Then virtualenv is used if present; otherwise make stops and says what
# to install. (tests/test_bare_machine.py drives this with fake Pythons.)
venv:
	@if $(PY) -m pip --version >/dev/null 2>&1; then exit 0; fi; \
	if ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	  echo "make: Estate needs Python 3.11 or newer; '$(PYTHON)' is not. Try: make PYTHON=python3.12" >&2; \
	  exit 1; \
	fi; \
	rm -rf "$(VENV)"; \
	if $(PYTHON) -m venv "$(VENV)" && $(PY) -m pip --version >/dev/null 2>&1; then exit 0; fi; \
	rm -rf "$(VENV)"; \
	if $(PYTHON) -m virtualenv --version >/dev/null 2>&1; then \
	  echo "make: '$(PYTHON) -m venv' made no venv with pip (ensurepip missing): using virtualenv"; \
	  $(PYTHON) -m virtualenv --quiet "$(VENV)"; \
	elif command -v virtualenv >/dev/null 2>&1; then \
	  echo "make: '$(PYTHON) -m venv' made no venv with pip (ensurepip missing): using virtualenv"; \
	  virtualenv --quiet --python "$(PYTHON)" "$(VENV)"; \
	fi; \
	if $(PY) -m pip --version >/dev/null 2>&1; then exit 0; fi; \
	rm -rf "$(VENV)"; \
	version=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	echo "" >&2; \
	echo "make: '$(PYTHON) -m venv' cannot make a venv with pip: its ensurepip is missing." >&2; \
	echo "  On Debian/Ubuntu install it:  apt-get install python3-venv  (this Python: python$$version-venv)" >&2; \
	echo "  or install virtualenv (apt-get install python3-virtualenv), then run make again." >&2; \
	exit 1

demo: install
	@mkdir -p var/broker/queue var/broker/processed var/broker/control
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py demo_users
	@echo "Starting the sandbox, web (http://127.0.0.1:8000), worker and beat; Ctrl-C stops them all."
	DEBUG=1 $(VENV)/bin/honcho -f Procfile.demo start

# With DATABASE_URL / REDIS_URL set the suite runs on PostgreSQL and Redis; without
# them on SQLite and a local-memory cache, skipping (and naming) what needs the services.
test: install
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The suite as on a machine with nothing but Python, whatever this one has: no
# PostgreSQL, no Redis, no Chromium (CI runs it beside the full `make test`).
test-bare: install
	@echo "env -u DATABASE_URL -u REDIS_URL ESTATE_CHROMIUM=none pytest $(PYTEST_ARGS)"
	@env -u DATABASE_URL -u REDIS_URL -u ESTATE_REQUIRE_SERVICES ESTATE_CHROMIUM=none \
	  $(VENV)/bin/pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then \
	  echo "make test-bare: pytest ran no test (exit 5): PYTEST_ARGS selects nothing" >&2; \
	fi; \
	exit $$status

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var/* staticfiles test-artifacts
