# Two entry points for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# The network here is closed: Prefect must not phone home, and each run gets a private home.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120

.PHONY: install run test lint bench ui clean chromium

install: $(STAMP)

# torch first, from the local CPU wheel: letting pip resolve it through the project pulls CUDA builds.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/cae run

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

test: lint
	PREFECT_HOME=$$(mktemp -d) $(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/ingest.py

ui: install
	@echo "Prefect UI on http://127.0.0.1:4200 ; in another shell: export PREFECT_API_URL=http://127.0.0.1:4200/api"
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache

# The browser test's Chromium, from Debian (idempotent; sudo only when not root).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }
