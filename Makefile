# Two commands: `make run` (install + serve the API and web page with the shipped models) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# One stamp per set of extras installed (pyproject.toml): `make run` needs serve, bridge (references and
# cultural notes) and jobs (document translation), `make test` everything the tests use.
INSTALLED := $(VENV)/.installed

.PHONY: run test install system-deps check audit bench relay ship-gate clean

# System packages the tests drive: Redis (started by the tests on free ports) and headless Chromium, with a
# Japanese font so that its screenshots of the web page show Japanese text, not empty boxes.
SYSTEM_PACKAGES := redis-server chromium chromium-driver fonts-noto-cjk

system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	fc-list :lang=ja 2>/dev/null | grep -q . || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED)-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	touch $@

install: $(INSTALLED)-test

# The default model's reference index (source references) is built on first start from ../shared/data
# (KAKEHASHI_DATA_DIR); without the corpora the server runs and says so in each response's annotations.
REFERENCE_INDEX := data/models/kakehashi-ja-en/index
run: $(INSTALLED)-serve,bridge,jobs
	@test -f $(REFERENCE_INDEX)/index.json || $(BIN)/kakehashi index build --model kakehashi-ja-en || \
		echo "no reference index built (see above); references will say so until 'kakehashi index build' runs"
	$(BIN)/kakehashi serve

# Includes tests/test_wheel.py: the wheel built, installed into a fresh virtual environment and run from there.
test: $(INSTALLED)-test system-deps
	$(BIN)/python -m pytest -q tests

check: $(INSTALLED)-test
	$(BIN)/python -m pip install --quiet ruff mypy
	$(BIN)/ruff format --check mt serve tests benchmarks data
	$(BIN)/ruff check mt serve tests benchmarks data
	$(BIN)/mypy mt serve

# Known vulnerabilities in every installed dependency (pip-audit against PyPI's advisory data); the tests run
# the same audit (tests/test_audit.py) and skip it, saying why, where PyPI's per-release data cannot be reached.
audit: $(INSTALLED)-test
	$(BIN)/python -m pip_audit --skip-editable --progress-spinner off

# Every report in benchmarks/results, from the training runs' work directories (see benchmarks/reproduce.sh).
bench: $(INSTALLED)-bench
	benchmarks/reproduce.sh

# Continue the default model's training relay for MINUTES (default 60) on THREADS threads (default 1; 2 when
# nothing else needs the machine), then write the relay checkpoint back to data/checkpoints/kakehashi-ja-en (see
# README: "The training relay"). Four batches of 4,000 tokens make each optimizer step, the 16,000 tokens a step
# of the GPU runs that made the model. PRECISION auto: bfloat16 mixed precision on CPUs with AMX or AVX-512 BF16
# (1.7x the tokens per second of float32 there, benchmarks/results/precision_training.json), float32 elsewhere.
MINUTES ?= 60
THREADS ?= 1
PRECISION ?= auto
RELAY_TRAIN = nice -n 10 $(BIN)/kakehashi train --resume data/checkpoints/kakehashi-ja-en --threads $(THREADS) \
	--batch-tokens 4000 --accumulate 4 --lr 3e-4 --precision $(PRECISION) --checkpoint-minutes 5
relay: $(INSTALLED)-train
	$(RELAY_TRAIN) --minutes $(MINUTES) --eval-minutes 30

# Whether the relay's last export should replace the shipped default: the ship gate (benchmarks/ship_gate.py) on
# the run's dev set, the Wiki Kyoto dev split and tatoeba-gate, pooled by sentences: a gain above zero and beyond
# noise (pooled paired bootstrap, p < 0.05). It prints its verdict (exit status 1, ignored here, when the shipped
# model stays). CANDIDATE: another model directory, e.g. a cool-down branch's export.
CANDIDATE ?= $(HOME)/.cache/kakehashi/train/kakehashi-ja-en/model
ship-gate: $(INSTALLED)-bench
	-$(BIN)/python benchmarks/ship_gate.py $(CANDIDATE)

clean:
	rm -rf $(VENV) .pytest_cache
