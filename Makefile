# preserve: `make run` sets everything up and runs the sample ingest; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the checkout keeps its repository in ./var (preserve itself defaults to the user data folder)
export PRESERVE_HOME ?= $(CURDIR)/var
PYTEST_ARGS ?=
SOAK_ITERATIONS ?= 50
SOAK_ARGS ?=
LINT_PATHS := preserve config migrations tests $(wildcard bench)

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck bench soak serve worker clean clean-data

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed ## create .venv and install preserve with its development tools

run: install ## initialise the embedded catalogue, ingest the sample collection, check fixity
	$(BIN)/preserve init
	$(BIN)/preserve collections add sample --title "Sample collection" --exist-ok
	$(BIN)/preserve sample $(PRESERVE_HOME)/sample-delivery
	$(BIN)/preserve ingest $(PRESERVE_HOME)/sample-delivery/* --collection sample \
		--metadata $(PRESERVE_HOME)/sample-delivery.csv
	$(BIN)/preserve fixity --all
	$(BIN)/preserve packages list

test: install ## run the test suite (PostgreSQL tests need PRESERVE_TEST_DATABASE_URL)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: install ## ruff and mypy
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy preserve config

bench: install ## measure ingest and fixity against hashing limits; writes docs/benchmarks.md
	$(BIN)/python -m bench.run

soak: install ## kill ingests at random moments, check each re-run; writes docs/reliability.md
	$(BIN)/python -m bench.soak --iterations $(SOAK_ITERATIONS) $(SOAK_ARGS)

serve: install ## (web catalogue: not built yet)
	@echo "the web catalogue is not built yet" >&2; exit 1

worker: install ## (Celery workers: not built yet)
	@echo "the workers are not built yet" >&2; exit 1

clean: ## remove the virtual environment and caches (never preserved data: see clean-data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

clean-data: ## DELETE the repository under PRESERVE_HOME (catalogue and stored packages); asks first
	@if [ ! -e "$(PRESERVE_HOME)" ]; then echo "nothing at $(PRESERVE_HOME)"; exit 0; fi; \
	printf 'This deletes %s: its catalogue and every package stored there.\nType the folder name (%s) to confirm: ' \
		"$(PRESERVE_HOME)" "$$(basename "$(PRESERVE_HOME)")"; \
	read answer; \
	if [ "$$answer" = "$$(basename "$(PRESERVE_HOME)")" ]; then rm -rf "$(PRESERVE_HOME)" && echo "deleted $(PRESERVE_HOME)"; \
	else echo "not deleted" >&2; exit 1; fi
