# ferry: every user-facing task is one make target. The virtual environment is made on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: venv demo test check lint browser tools azurite bench run rerun-failed status serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/ferry demo

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy pipeline fileapi jobs benchmarks

# Debian's chromium renders `ferry report` in a test; installed when missing and we are root.
browser:
	bash scripts/ensure-browser

# Debian's aria2 and wget: the tests check that the tools accept the lists ferry reads.
tools:
	bash scripts/ensure-tools


# Azurite (Azure Blob Storage on loopback, for tests/buckets/), pinned, from npm,
# into a git-ignored folder.
AZURITE_VERSION := 3.37.0
AZURITE := .tools/azurite-$(AZURITE_VERSION)/node_modules/.bin/azurite-blob

$(AZURITE):
	npm install --silent --no-save --no-audit --no-fund --prefix .tools/azurite-$(AZURITE_VERSION) azurite@$(AZURITE_VERSION)

azurite: $(AZURITE)

test: lint browser tools azurite
	$(BIN)/pytest --cov=pipeline --cov=fileapi --cov=jobs --cov-report=term:skip-covered

check: test

bench: venv
	$(BIN)/python -m benchmarks

run: venv
	@test -n "$(MANIFEST)" || (echo "usage: make run MANIFEST=path/to/manifest.csv [ARGS='--concurrency 32']" >&2; exit 2)
	$(BIN)/ferry run "$(MANIFEST)" $(ARGS)

rerun-failed: venv
	@test -n "$(MANIFEST)" || (echo "usage: make rerun-failed MANIFEST=path/to/manifest.csv" >&2; exit 2)
	$(BIN)/ferry run "$(MANIFEST)" --failed-only $(ARGS)

status: venv
	@test -n "$(MANIFEST)" || (echo "usage: make status MANIFEST=path/to/manifest.csv" >&2; exit 2)
	$(BIN)/ferry status --manifest "$(MANIFEST)" $(ARGS)

serve: venv
	$(BIN)/ferry serve $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage demo-output benchmarks/work .tools
