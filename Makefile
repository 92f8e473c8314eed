# Every routine task has a target; CI runs `make test` (see .ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app aggregator
HOST ?= 127.0.0.1
PORT ?= 5000
TEST ?= tests
# Two workers: this machine class has two cores. PYTEST_ARGS="-n 0" runs serially (easier to debug).
PYTEST_ARGS ?= -n 2

.PHONY: help venv dev-deps native native-or-python node-deps run demo db-upgrade poll test lint typecheck bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

venv: $(BIN)/activate ## Create .venv and install requirements.txt

$(VENV)/.dev-installed: $(BIN)/activate requirements-dev.txt requirements-build.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

dev-deps: $(VENV)/.dev-installed ## Install test and tooling dependencies

# The topic matcher compiled with mypyc (aggregator/topics/native.py). Rebuilt when a source of the package
# changes; a build of older sources is never loaded (the package checks a digest), so a missed rebuild only costs
# speed. TOPICS_NATIVE=auto here: the build must not require the build it is making.
NATIVE_STAMP := build/native/STAMP.json
$(NATIVE_STAMP): $(BIN)/activate requirements-build.txt $(wildcard aggregator/topics/*.py)
	$(BIN)/pip install --quiet -r requirements-build.txt
	TOPICS_NATIVE=auto $(BIN)/python -m aggregator.topics.native_build build

native: $(NATIVE_STAMP) ## Compile the topic matcher with mypyc into build/native (about a minute; pure Python without it)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --prefer-offline --no-audit --no-fund

node-deps: node_modules/.package-lock.json ## Install the Node test tools (axe-core, vnu-jar, feed parser)

# For `make run` on a machine without a C compiler: the service runs, as pure Python.
native-or-python: venv
	@$(MAKE) --no-print-directory native || echo "note: could not compile the topic matcher (see above); it runs as pure Python, with the same results, about 1.4x slower"

db-upgrade: venv ## Create or upgrade the database (DATABASE_URL, default SQLite in instance/)
	$(FLASK) db upgrade

run: db-upgrade native-or-python ## Serve http://127.0.0.1:5000 with the scheduler in the same process (SQLite by default)
	$(FLASK) serve --host $(HOST) --port $(PORT)

demo: venv ## Like run, but polling the bundled demo corpus served from 127.0.0.1 (works offline)
	$(BIN)/python -m aggregator.demo --host $(HOST) --port $(PORT)

poll: db-upgrade ## Poll every enabled source once
	$(FLASK) poll

test: dev-deps native ## Run the test suite (PostgreSQL tests skip loudly when none answers; REQUIRE_POSTGRES=1 makes them required)
	@if [ -d node_modules ] || [ -n "$$CI" ]; then $(MAKE) --no-print-directory node-deps; fi
	$(BIN)/python -m pytest $(TEST) $(PYTEST_ARGS)

lint: dev-deps ## ruff and mypy
	$(BIN)/ruff check aggregator tests
	$(BIN)/mypy aggregator

bench: dev-deps native ## The benchmark: writes bench/results.md
	$(BIN)/python -m bench

clean: ## Remove caches (keeps .venv and the database)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
