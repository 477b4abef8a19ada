# winback: `make demo` runs the demo engagement end to end, `make test` runs the whole suite.
# Both create the virtual environment (.venv) with the pinned dependencies first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint lab bench clean-runs

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "winback needs Python 3.11+ (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/winback demo

test: $(STAMP)
	@bash .ci/system-packages
	$(BIN)/python -m pytest --nbval-lax -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check lib tests notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python -m winback.bench

clean-runs:
	rm -rf runs/demo data/demo
