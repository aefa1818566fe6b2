# Everything a newcomer needs, from Python 3.11 and make alone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_HOME ?= $(CURDIR)/.pmsync/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: install demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@mkdir -p $(PREFECT_HOME)
	$(BIN)/pmsync demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy  # every package: [tool.mypy] files in pyproject.toml

# The suite waits on sockets and child processes for much of its time, so it runs on one worker
# per core (pytest-xdist); TEST_WORKERS=0 runs it in this process, in order.
TEST_WORKERS ?= auto
pytest: $(STAMP)
	@mkdir -p $(PREFECT_HOME)  # Prefect makes its home, but not the folders above it
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

test: lint typecheck pytest

# The sync at scale 100 (about five minutes): see benchmarks/sync_scale.py. SCALE=25 is quicker.
SCALE ?= 100
bench: $(STAMP)
	$(BIN)/python benchmarks/sync_scale.py --scale $(SCALE)

clean:
	rm -rf $(VENV) .pmsync .pytest_cache .mypy_cache .ruff_cache
