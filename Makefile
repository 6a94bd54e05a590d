# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NATIVE_SRC := layers/connect/lambda_connect/api/_map_edit.c layers/connect/lambda_connect/runtime/_batch_loop.c \
	layers/connect/lambda_connect/plugins/connectors/cdc/postgres/_pgoutput.c \
	layers/connect/lambda_connect/aws/_slot_decode.c layers/connect/lambda_connect/aws/_event_render.c
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(NATIVE_SRC) | cksum | cut -d' ' -f1)

.PHONY: install test lint demo bench build clean soak

# pip also compiles the native plan engine ($(NATIVE_SRC)); an edit to it reinstalls.
$(STAMP): pyproject.toml $(NATIVE_SRC)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) || \
		echo "chromium could not be installed: tests/e2e/test_console.py will skip (fail with CI=true)"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# OWN_WORDS: the steering repo's check that our prose is not copied from Kafka or Confluent
# (docs/readme/development.md); skipped with a note where ../shared is not beside the project.
OWN_WORDS := ../shared/tools/own_words/check.py

lint: install
	$(BIN)/ruff check .
	@if [ -f $(OWN_WORDS) ]; then $(BIN)/python $(OWN_WORDS) --show 20 | tee /dev/stderr | tail -1 | grep -q '^identical 0 ' ; \
	else echo "own-words check skipped: $(OWN_WORDS) not found"; fi

demo: install
	$(BIN)/lambda-connect demo

# Benchmarks measure; they do not pass or fail. Results and method: bench/README.md.
bench: install
	$(BIN)/python bench/transform_chain.py
	$(BIN)/python bench/sink_jdbc.py
	$(BIN)/python bench/source_jdbc.py
	$(BIN)/python bench/cold_start.py

# Fault-injection soak of the local runtime, outside CI (figures: docs/RELIABILITY.md): SOAK_MINUTES=30 make soak
SOAK_MINUTES ?= 30
soak: install
	nice -n 10 $(BIN)/python -m tests.reliability.soak --minutes $(SOAK_MINUTES) --out soak-figures.json

# The SAM artifacts (.aws-sam/build + template) for `sam deploy`, without Docker or python3.13.
build: install
	$(BIN)/python scripts/build.py

clean:
	rm -rf $(VENV) .aws-sam build .pytest_cache
