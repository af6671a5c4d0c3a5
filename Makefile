# Two commands on a fresh machine: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

DASHBOARD := polls/dashboard
CHROMIUM := /usr/bin/chromium

.PHONY: run test load-test lint format clean dashboard dashboard-check bench

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(INSTALLED)

## Start the whole system on this machine (emulator, webhook, stream poller, portal).
run: $(INSTALLED)
	$(PY) manage.py migrate --noinput
	$(PY) -m deploy.local

## Lint, check the committed dashboard bundle and run every test but the load check.
test: lint dashboard-check $(CHROMIUM)
	$(PY) -m pytest

## The load check: 20,000 signed texts (15,000 phones, repeats and changes) through the
## local backend, totals exact, no server error. About five minutes; CI runs it after `test`.
load-test: $(INSTALLED)
	$(PY) -m pytest -m load

# The browser tests drive Debian's Chromium (never a downloaded browser).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "The browser tests need Debian's Chromium: sudo apt-get install chromium"; exit 1; fi

## Measure: ingest and tally CPU, packages, export, dashboard, end to end (a few minutes).
## Each script prints a table and writes bench/results/<name>.json; docs/PERFORMANCE.md cites them.
bench: $(INSTALLED)
	$(PY) -m bench.ingest
	$(PY) -m bench.tally
	$(PY) -m bench.package
	$(PY) -m bench.export
	$(PY) -m bench.dashboard
	$(PY) -m bench.end_to_end
	$(PY) -m bench.cost_model

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

$(DASHBOARD)/node_modules/.package-lock.json: $(DASHBOARD)/package.json $(DASHBOARD)/package-lock.json
	cd $(DASHBOARD) && npm ci --no-audit --no-fund --loglevel=error

## Rebuild the dashboard bundle (committed, so Python-only users need no Node).
dashboard: $(DASHBOARD)/node_modules/.package-lock.json
	cd $(DASHBOARD) && node build.mjs

## Fail if the committed bundle is not what its sources build to.
dashboard-check: $(DASHBOARD)/node_modules/.package-lock.json
	@tmp=$$(mktemp -d) && cd $(DASHBOARD) && node build.mjs $$tmp/dashboard.js && \
	  if cmp -s dist/dashboard.js $$tmp/dashboard.js; then echo "dashboard bundle is up to date"; \
	  else echo "dist/dashboard.js does not match its sources: run 'make dashboard' and commit it"; \
	  rm -rf $$tmp; exit 1; fi; rm -rf $$tmp

format: $(INSTALLED)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
