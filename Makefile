# Two commands: `make run` (install + serve the API and web page with the shipped models) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install system-deps check bench clean

# System packages the tests drive: Redis (started by the tests on free ports) and headless Chromium.
SYSTEM_PACKAGES := redis-server chromium chromium-driver

system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/kakehashi serve

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q tests

check: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff mypy
	$(BIN)/ruff format --check mt serve tests benchmarks data
	$(BIN)/ruff check mt serve tests benchmarks data
	$(BIN)/mypy mt serve

# Every report in benchmarks/results, from the training runs' work directories (see benchmarks/reproduce.sh).
bench: $(STAMP)
	benchmarks/reproduce.sh

clean:
	rm -rf $(VENV) .pytest_cache
