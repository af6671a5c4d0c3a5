# Two commands on a fresh machine: `make run` and `make test`. Both set up what they need.
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

# .venv runs the Lambda runtime's Python (the template's Runtime, python3.12): a working
# python3.12 on PATH, else pyenv's (its shim is on PATH but fails unless 3.12 is selected), else
# python3, with a note. `make VENV_PYTHON=python3.13` picks another; an existing .venv is kept.
RUNTIME_PYTHON := $(shell sed -n 's/^ *Runtime: python\([0-9.]*\).*/\1/p' deploy/template.yaml \
	| head -n 1)
VENV_PYTHON ?=
FIND_PYTHON = \
	if [ -n "$(VENV_PYTHON)" ]; then echo "$(VENV_PYTHON)"; \
	elif python$(RUNTIME_PYTHON) -c 'import sys' >/dev/null 2>&1; then echo python$(RUNTIME_PYTHON); \
	else \
	  found=; \
	  if command -v pyenv >/dev/null 2>&1; then \
	    for candidate in "$$(pyenv root)"/versions/$(RUNTIME_PYTHON)*/bin/python$(RUNTIME_PYTHON); do \
	      "$$candidate" -c 'import sys' >/dev/null 2>&1 && found="$$candidate"; \
	    done; \
	  fi; \
	  echo "$${found:-python3}"; \
	fi
PYTHON_VERSION = -c 'import sys; print("%d.%d" % sys.version_info[:2])'

# The locks (README: "Upgrading dependencies"). uv keeps the pins a lock already has:
# `make lock LOCK_UPGRADE=--upgrade` takes the newest versions requirements*.txt allow, and
# LOCK_UPGRADE="--upgrade-package twilio" one package's. The dev lock is universal (any OS, every
# Python from requires-python on); the portal's and each function's take the dev lock's versions,
# so what is deployed is what the tests ran; a function's is resolved for Lambda's platform.
LOCK_UPGRADE ?=
MIN_PYTHON := $(shell sed -n 's/^requires-python = ">=\([0-9.]*\)"/\1/p' pyproject.toml)
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes \
	--custom-compile-command "make lock" $(LOCK_UPGRADE)

# checkov (`make lint`) in a venv of its own: it pins packages the project uses to old versions.
CHECKOV_VENV := $(VENV)/tools/checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed

DASHBOARD := polls/dashboard
CHROMIUM := /usr/bin/chromium

.PHONY: run test load-test lint lock format clean dashboard dashboard-check bench screenshots

$(INSTALLED): requirements-dev.lock
	@if [ ! -x $(PY) ]; then \
	  python="$$($(FIND_PYTHON))"; \
	  echo "$$python -m venv $(VENV)   # Python $$("$$python" $(PYTHON_VERSION))"; \
	  "$$python" -m venv $(VENV) || exit 1; \
	fi
	@version="$$($(PY) $(PYTHON_VERSION))"; \
	if [ "$$version" != "$(RUNTIME_PYTHON)" ]; then \
	  echo "NOTE: $(VENV) runs Python $$version, not the Lambda runtime's $(RUNTIME_PYTHON) (no" \
	    "working python$(RUNTIME_PYTHON) was found, or VENV_PYTHON chose another): the tests run" \
	    "on $$version and deploys ship no byte code. With Python $(RUNTIME_PYTHON) installed," \
	    "'make clean' and make again."; \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	touch $(INSTALLED)

## Start the whole system on this machine (emulator, webhook, stream poller, portal).
run: $(INSTALLED)
	$(PY) manage.py migrate --noinput
	$(PY) -m deploy.local

## Lint, check the committed dashboard bundle and run every test but the load check, on every
## core (pytest-xdist: each worker has its own emulator; a test file stays on one worker).
test: lint dashboard-check $(CHROMIUM)
	$(PY) -m pytest -n auto --dist loadfile

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
	$(PY) -m bench.scale
	$(PY) -m bench.votes_per_phone
	$(PY) -m bench.cost_model

## Lint: ruff, the format check, mypy (pyproject.toml: strict on lambdas/), that the models
## need no migration that is not written yet, and checkov over the template (0 failed checks;
## a check that does not fit is skipped in the template, with its reason). checkov runs
## offline: no guideline download (BC_SKIP_MAPPING, --skip-download), no platform upload.
lint: $(INSTALLED) $(CHECKOV_INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) manage.py makemigrations --check --dry-run
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --file deploy/template.yaml \
	  --framework cloudformation --quiet --compact --skip-download

$(CHECKOV_INSTALLED): requirements-checkov.lock $(INSTALLED)
	@[ -x $(CHECKOV_VENV)/bin/python ] || $(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
	  -r requirements-checkov.lock
	touch $@

## Compile requirements*.txt and lambdas/*/requirements.txt into their locks, with hashes.
lock: $(INSTALLED)
	$(UV_COMPILE) --universal --python-version $(MIN_PYTHON) \
	  requirements-dev.txt -o requirements-dev.lock
	$(UV_COMPILE) --universal --python-version $(MIN_PYTHON) -c requirements-dev.lock \
	  requirements.txt -o requirements.lock
	$(UV_COMPILE) --universal --python-version $(MIN_PYTHON) \
	  requirements-checkov.txt -o requirements-checkov.lock
	@platform="$$($(PY) -c 'from deploy.aws.packaging import LAMBDA_ARM64 as p; print(*p.lock_arguments)')" \
	  && for requirements in lambdas/*/requirements.txt; do \
	    lock="$${requirements%.txt}.lock"; \
	    echo "$$requirements -> $$lock, for $$platform (and the dev lock's versions)"; \
	    $(UV_COMPILE) $$platform -c requirements-dev.lock "$$requirements" -o "$$lock" || exit 1; \
	  done

$(DASHBOARD)/node_modules/.package-lock.json: $(DASHBOARD)/package.json $(DASHBOARD)/package-lock.json
	cd $(DASHBOARD) && npm ci --no-audit --no-fund --loglevel=error

## Rebuild the dashboard bundle (committed, so Python-only users need no Node).
dashboard: $(DASHBOARD)/node_modules/.package-lock.json
	cd $(DASHBOARD) && node build.mjs

## Rewrite the README's pictures of the results page (docs/presenter.png, docs/phone.png): the
## demo poll in Chromium, as the browser test renders it; never done by `make test`.
screenshots: $(INSTALLED) $(CHROMIUM)
	TEXTVOTE_SCREENSHOTS_DIR=docs $(PY) -m pytest -q -p no:cacheprovider \
	  tests/e2e/test_dashboard_layout.py -k readmes_pictures

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
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
