# preserve: `make run` sets everything up and runs the sample ingest; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the checkout keeps its repository in ./var (preserve itself defaults to the user data folder)
export PRESERVE_HOME ?= $(CURDIR)/var
PYTEST_ARGS ?=
SOAK_ITERATIONS ?= 50
SOAK_ARGS ?=
BENCH_WEB_ARGS ?=
WORKER_ARGS ?=
# how long `make run` waits for its sample ingest job (seconds)
RUN_TIMEOUT ?= 600
# where `make run` and `make serve` serve the web catalogue
RUN_BIND ?= 127.0.0.1:8000
SERVE_ARGS ?=
LINT_PATHS := preserve config migrations workers web tests $(wildcard bench)

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck bench bench-web soak serve worker translations clean clean-data

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@# the build's own warnings (setuptools on the web catalogue's data folders) go to a log,
	@# shown only if the installation fails
	@echo "installing preserve and its development tools into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --quiet --upgrade pip >$(VENV)/install.log 2>&1 \
		&& $(BIN)/python -m pip install --quiet -e '.[dev]' >>$(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log >&2; echo "error: the installation failed (log above)" >&2; exit 1; }
	touch $@

install: $(BIN)/.installed ## create .venv and install preserve with its development tools

run: install ## set up the embedded repository with the sample, then serve the catalogue (Ctrl-C stops)
	$(BIN)/preserve init
	$(BIN)/preserve collections add sample --title "Sample collection" --exist-ok
	$(BIN)/preserve sample $(PRESERVE_HOME)/sample-delivery
	@# the sample ingest is a job that a real worker runs (embedded broker under PRESERVE_HOME);
	@# the worker is stopped at the end whatever happens, and its log shown if the job failed
	@log="$(PRESERVE_HOME)/worker.log"; \
	$(BIN)/preserve worker --with-scheduler --concurrency 1 >"$$log" 2>&1 & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; \
	echo "worker started (pid $$worker, log $$log)"; \
	job=$$($(BIN)/preserve ingest $(PRESERVE_HOME)/sample-delivery/* --collection sample \
		--metadata $(PRESERVE_HOME)/sample-delivery.csv --async --json \
		| $(BIN)/python -c 'import json, sys; print(json.load(sys.stdin)["job_id"])') || exit 1; \
	echo "queued job $$job"; \
	waited=0; rc=75; while [ $$rc -eq 75 ]; do \
		if ! kill -0 $$worker 2>/dev/null; then \
			echo "error: the worker stopped before the job ended; its log ($$log):" >&2; \
			tail -n 30 "$$log" >&2; exit 1; fi; \
		if [ $$waited -ge $(RUN_TIMEOUT) ]; then \
			echo "error: job $$job did not end within $(RUN_TIMEOUT) s" >&2; exit 1; fi; \
		$(BIN)/preserve jobs wait "$$job" --timeout 5 2>"$$log.wait"; rc=$$?; \
		waited=$$((waited + 5)); \
	done; \
	if [ $$rc -ne 0 ]; then cat "$$log.wait" >&2; \
		echo "the job did not succeed; the worker's log:" >&2; tail -n 30 "$$log" >&2; exit 1; fi; \
	cat "$$log.wait" >&2; rm -f "$$log.wait"
	$(BIN)/preserve fixity --all
	$(BIN)/preserve packages list
	@# a local administrator to sign in with: made once, its one-time password printed once
	@if $(BIN)/preserve users list --json | $(BIN)/python -c \
		'import json, sys; sys.exit(0 if any(u["username"] == "admin" for u in json.load(sys.stdin)) else 1)'; then \
		echo "the account admin exists already; for a new one-time password run:"; \
		echo "  PRESERVE_HOME=$(PRESERVE_HOME) $(BIN)/preserve users reset-password admin"; \
	else \
		$(BIN)/preserve users create admin --admin --display-name "Local administrator" \
			--organisation "$${PRESERVE_ORGANISATION:-default}" --role admin || exit 1; \
	fi
	@echo ""
	@echo "== the catalogue: open http://$(RUN_BIND)/ and sign in as admin with the one-time password"
	@echo "== printed when it was made (then choose your own); Ctrl-C stops the catalogue"
	$(BIN)/preserve serve --bind $(RUN_BIND) $(SERVE_ARGS)

test: install ## run the test suite (PostgreSQL tests need PRESERVE_TEST_DATABASE_URL)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: install ## ruff and mypy
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy preserve config workers web

bench: install ## measure ingest and fixity against hashing limits; writes docs/benchmarks.md
	$(BIN)/python -m bench.run

bench-web: install ## web catalogue at 100k packages / 1M files on PostgreSQL (PRESERVE_TEST_DATABASE_URL); writes docs/benchmarks.md
	$(BIN)/python -m bench.web --merge docs/benchmarks.md $(BENCH_WEB_ARGS)
	@if [ -f bench/web_upload.py ]; then $(BIN)/python -m bench.web_upload --merge docs/benchmarks.md; fi
	@if [ -f bench/web_folder.py ]; then $(BIN)/python -m bench.web_folder --merge docs/benchmarks.md; fi
	@if [ -f bench/compliance.py ]; then $(BIN)/python -m bench.compliance --merge docs/benchmarks.md; fi

soak: install ## kill ingests at random moments, check each re-run; writes docs/reliability.md
	$(BIN)/python -m bench.soak --iterations $(SOAK_ITERATIONS) $(SOAK_ARGS)

serve: install ## serve the web catalogue (gunicorn, with the embedded workers when no broker is set)
	$(BIN)/preserve serve --bind $(RUN_BIND) $(SERVE_ARGS)

TRANSLATIONS := web/translations
LANGUAGES := nl fr

translations: install ## extract the web catalogue's strings; update the nl and fr catalogues; compile them
	$(BIN)/pybabel extract -F babel.cfg --add-location=file --sort-by-file --no-wrap \
		--project preserve --copyright-holder "preserve contributors" \
		-o $(TRANSLATIONS)/messages.pot web preserve
	@for lang in $(LANGUAGES); do \
		if [ -f $(TRANSLATIONS)/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update --no-wrap -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l $$lang || exit 1; \
		else \
			$(BIN)/pybabel init -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l $$lang || exit 1; \
		fi; \
	done
	$(BIN)/pybabel compile --statistics -d $(TRANSLATIONS)

worker: install ## run a worker with the scheduler (embedded broker, or PRESERVE_BROKER_URL)
	$(BIN)/preserve worker --with-scheduler $(WORKER_ARGS)

clean: ## remove the virtual environment and caches (never preserved data: see clean-data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

clean-data: ## DELETE the repository under PRESERVE_HOME (catalogue and stored packages); asks first
	@if [ ! -e "$(PRESERVE_HOME)" ]; then echo "nothing at $(PRESERVE_HOME)"; exit 0; fi; \
	printf 'This deletes %s: its catalogue and every package stored there.\nType the folder name (%s) to confirm: ' \
		"$(PRESERVE_HOME)" "$$(basename "$(PRESERVE_HOME)")"; \
	read answer; \
	if [ "$$answer" = "$$(basename "$(PRESERVE_HOME)")" ]; then rm -rf "$(PRESERVE_HOME)" && echo "deleted $(PRESERVE_HOME)"; \
	else echo "not deleted" >&2; exit 1; fi
