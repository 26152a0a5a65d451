# Tollway: `make run` starts the whole stack locally; `make test` runs every check and test.
# Both create the virtualenv on first use (Python 3.11, packages from PyPI only).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tollway-installed
PROTOS := ext_proc/proto/ext_proc.binpb
PYTEST_ARGS ?=

.PHONY: venv run test lint typecheck imports unit integration container browser browser-deps bench clean \
	images compose-up compose-down

venv: $(STAMP) $(PROTOS)

$(STAMP): pyproject.toml
	@test -x $(BIN)/pip || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); } || \
		{ rm -rf $(VENV); echo "cannot create a venv: install Python 3.11 with venv (apt-get install python3.11-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Envoy's ext_proc protos as a FileDescriptorSet for upb (xds-protos would shadow our `xds` package).
$(PROTOS): $(STAMP)
	$(BIN)/python -m ext_proc.proto.build

run: venv
	$(BIN)/tollway up

test: venv lint typecheck imports images unit integration container browser

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

imports: venv
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest tests/unit -q $(PYTEST_ARGS)

integration: venv images
	$(BIN)/pytest tests/integration -q $(PYTEST_ARGS)

# Images for compose and the container tests, built offline (debootstrap base, wheels from the host);
# Docker's layer cache makes a rebuild in the same run cheap. TOLLWAY_BASE=registry builds FROM
# python:3.11-slim-bookworm instead.
# Without a Docker engine (and CI unset) nothing is built: the Redis-backed integration tests then use
# the embedded Valkey binary and the container tests skip. With CI=true a missing engine fails here.
images: venv
	@if [ "$$CI" = true ] || docker info >/dev/null 2>&1; then compose/build-images.sh; \
	else echo "no Docker engine: images not built (container tests skip; CI=true would fail)"; fi

# The compose deployment: `make compose-up` builds, starts, seeds the demo and prints an openai example.
compose-up: venv
	compose/up.sh

compose-down:
	compose/down.sh

# Container tests need a Docker engine; with CI=true a missing engine fails `make images` (no skip).
container: venv images
	$(BIN)/pytest tests/container -q $(PYTEST_ARGS)

# Browser tests drive Debian's chromium with Playwright (no browser download): installed here if missing.
browser-deps:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		{ echo "cannot install chromium (apt-get install chromium) for the browser tests"; exit 1; }

browser: venv browser-deps
	$(BIN)/pytest tests/browser -q $(PYTEST_ARGS)

# Max-RPS arms use wrk from Debian's packages; the latency arms run without it.
bench: venv
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || echo "wrk unavailable: max RPS skipped"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(PROTOS) .tollway test-artifacts
