# The two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint bench clean-instance release-manifest bpmnlint

# Installs quietly: pip's output goes to .venv/install.log and is shown only when it fails.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the dependencies into $(VENV) (the first time takes a few minutes)..."
	@{ $(BIN)/pip install --disable-pip-version-check --upgrade pip \
	   && $(BIN)/pip install --disable-pip-version-check -e '.[test]'; } > $(VENV)/install.log 2>&1 \
	   || { tail -n 40 $(VENV)/install.log; echo "installing failed; the whole log is in $(VENV)/install.log"; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

## Set up and run the product: migrations, demo data, equipment simulators, scheduler, web server.
run: $(STAMP)
	@GMP_DEMO=$${GMP_DEMO:-1} $(BIN)/gmp run

## Set up and run all tests (SQLite and a throw-away PostgreSQL when installed).
# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set: the suite starts many Python
# processes (servers, command lines, workers) that would otherwise each compile the code again.
# Three test processes (pytest-xdist): many tests wait on servers, Chromium and PostgreSQL, so a
# third process keeps two cores busy; the long tests are handed out first (tests/conftest.py).
# `make test PYTEST_ARGS=` runs in one process; `PYTEST_ARGS="-n 3 tests/web"` runs a part.
PYTEST_ARGS ?= -n 3 --maxschedchunk 2
test: $(STAMP) bpmnlint
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest $(PYTEST_ARGS)

# bpmn.io's bpmnlint, the version pinned in tools/bpmnlint/package-lock.json, for the diagram
# checks (tests/bpmn/test_diagram_lint.py); installed into tools/bpmnlint/node_modules (git-ignored)
# when npm is present. Without it those tests skip (and fail under GMP_TEST_REQUIRE_ALL=1).
BPMNLINT := tools/bpmnlint/node_modules/.package-lock.json
$(BPMNLINT): tools/bpmnlint/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	   echo "Installing bpmnlint into tools/bpmnlint..."; \
	   npm ci --prefix tools/bpmnlint --no-audit --no-fund --loglevel=error >/dev/null \
	   || echo "npm ci failed (offline?): the bpmnlint checks of the diagrams will not run"; \
	 else echo "npm not found: the bpmnlint checks of the diagrams will not run (Debian: apt install npm)"; fi

bpmnlint: $(BPMNLINT)

bench: $(STAMP)
	for script in bench/*.py; do case $$script in */__init__.py) ;; *) $(BIN)/python $$script --quick || exit 1;; esac; done

## When a release is cut: the SHA-256 of every file of the release commit, shipped for the IQ.
release-manifest: $(STAMP)
	$(BIN)/gmp validation-pack manifest
