# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint types unit install clean bench chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/jobdeck serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench plugins
	$(BIN)/ruff format --check src tests bench plugins

types: $(STAMP)
	$(BIN)/mypy

# The browser tests (tests/e2e/test_ui_*.py) drive Debian's chromium. Installed here
# only when missing and we are root (as CI is); otherwise those tests skip, saying why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium is missing: the browser tests will skip"

test: $(STAMP) chromium lint types
	$(BIN)/pytest -q -p no:cacheprovider

# bench/faults.py (a scenario per run; short forms in tests/integration/test_faults.py)
# and bench/soak.py (30 minutes) are run by hand. Those that need PostgreSQL
# ($JOBDECK_BENCH_ADMIN_URL, else postgres@127.0.0.1:5432) print "skipped: no
# PostgreSQL at <url>" and go on when none answers.
bench: $(STAMP)
	for f in bench/*.py; do \
	  case $$f in bench/faults.py|bench/soak.py) continue;; esac; \
	  echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
