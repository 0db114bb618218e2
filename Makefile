# hookstream: `make run` starts the dev server, `make test` runs every test.
# Both create the virtualenv and install on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SDK_MODULES := tests/sdk/node_modules/.package-lock.json
BROWSER_MODULES := tests/browser/node_modules/.package-lock.json
WORKFLOW_MODULES := tests/workflow/node_modules/.package-lock.json
NODE_MODULES := $(SDK_MODULES) $(BROWSER_MODULES) $(WORKFLOW_MODULES)
PYTEST_ARGS ?=
STRESS_RUNS ?= 5

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-integration test-workflow test-browser test-faults test-stress lint fmt typecheck deploy-check image clean
.PHONY: bench bench-peers bench-cluster bench-instructions bench-calls

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "hookstream needs Python 3.11+ (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)  ## create .venv and install hookstream with its dev tools

# The TypeScript SDK test needs @upstash/qstash; npm ci only when the lock file changed.
$(SDK_MODULES): tests/sdk/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the TypeScript SDK test will be skipped"; fi

# The Workflow tests run an app on @upstash/workflow (pinned with @upstash/qstash and zod).
$(WORKFLOW_MODULES): tests/workflow/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/workflow --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Workflow tests will be skipped"; fi

# The console's browser tests drive Chromium with playwright-core (no browser download).
$(BROWSER_MODULES): tests/browser/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the console's browser tests will be skipped"; fi

run: install  ## start the all-in-one dev server (ingress + worker + scheduler) on an embedded Redis
	$(BIN)/hookstream dev

test: install $(NODE_MODULES)  ## run the whole suite against a real Redis-compatible server
ifeq ($(CI),true)
	bash deploy/install-tools.sh
endif
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install  ## only the fast unit tests
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: install $(SDK_MODULES)  ## only the tests against a real server
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-workflow: install $(WORKFLOW_MODULES)  ## only the Upstash Workflow app tests (@upstash/workflow on hookstream)
	$(BIN)/pytest tests/workflow $(PYTEST_ARGS)

test-browser: install $(BROWSER_MODULES)  ## only the console in headless Chromium (screenshots: tests/browser/artifacts)
	$(BIN)/pytest tests/browser $(PYTEST_ARGS)

test-faults: install  ## only the fault-injection tier and its ledger (docs/reliability.md; table: tests/faults/artifacts)
	$(BIN)/pytest tests/faults $(PYTEST_ARGS)

# Not part of `make test`: the timing-sensitive tiers, run after run, while a busy loop holds
# every core, so a test whose verdict depends on how loaded the machine is shows up here.
# The hogs are killed by their ids when the target ends, on failure or Ctrl-C too.
test-stress: install $(SDK_MODULES)  ## integration + chaos tiers STRESS_RUNS times (5) with every core busy
	@hogs=""; trap 'kill $$hogs 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	for core in $$(seq $$(nproc)); do \
		$(BIN)/python -c 'while True: pass' & hogs="$$hogs $$!"; \
	done; \
	echo "stress: $(STRESS_RUNS) runs with $$(nproc) busy loops (pids$$hogs)"; \
	for run in $$(seq $(STRESS_RUNS)); do \
		$(BIN)/pytest tests/integration tests/chaos $(PYTEST_ARGS) \
			|| { echo "stress: run $$run/$(STRESS_RUNS) failed"; exit 1; }; \
		echo "stress: run $$run/$(STRESS_RUNS) passed"; \
	done

deploy-check: install  ## chart, manifests, rules and dashboard checks (tests/deploy)
	$(BIN)/pytest tests/deploy $(PYTEST_ARGS)

# buildah, no Docker engine: deploy/image/build.sh (a Debian base from debootstrap unless
# BASE_IMAGE is set; IMAGE names the result). With Docker: docker build -f deploy/Dockerfile .
image:  ## build the image with buildah (root; deploy/README.md "Build the image")
	bash deploy/image/build.sh

lint: install  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install  ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install  ## mypy --strict on the three packages
	$(BIN)/mypy

# Not part of `make test`: a few minutes of load on this machine (docs/performance.md).
bench: install  ## performance scenarios and their ceilings: one table, JSON in bench/results/
	$(BIN)/python -m bench

# Not part of `make test`: ~12 min; a count a noisy machine does not move (docs/performance.md).
bench-instructions: install  ## instructions per delivery (worker, lean loop) and per publish (ingress, bare app), and of the Redis serving each, under callgrind (needs valgrind)
	$(BIN)/python -m bench instructions

bench-calls: install  ## Python calls per delivery and per publish against the ceilings', under cProfile
	$(BIN)/python -m bench calls

# Not part of `make test`: one Redis against a local 3-master cluster (docs/scaling.md).
bench-cluster: install  ## 1 node vs 3 masters by 1/2/4 worker processes: deliveries/s, latency, CPU per master, script spread, idle cost
	$(BIN)/python -m bench.cluster_spread

# The peers (taskiq, saq) get their own venv, so their dependencies never touch .venv.
PEERS_VENV := bench/.peers-venv
$(PEERS_VENV)/.installed: bench/peers/requirements.txt
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet -r bench/peers/requirements.txt
	touch $@

bench-peers: install $(PEERS_VENV)/.installed  ## the same drain on hookstream, taskiq and saq
	$(BIN)/python -m bench peers --peers-python $(PEERS_VENV)/bin/python

clean:  ## remove the virtualenv, caches and dev data
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hookstream-data tests/sdk/node_modules \
		tests/workflow/node_modules tests/browser/node_modules tests/browser/artifacts
