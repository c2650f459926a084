# The two commands: `make run` (the app with demo data) and `make test` (the whole suite).
# `make lint` runs ruff and mypy (CONTRIBUTING.md, Checks).
.PHONY: run test lint format ci clean mongo-start mongo-stop

run:
	bash scripts/run.sh

# The local MongoDB-compatible server of `make run` (this checkout's only), e.g. to watch
# the audit log wait in its spool while MongoDB is away.
mongo-stop:
	bash scripts/localmongo.sh stop

mongo-start:
	bash scripts/localmongo.sh start

# The whole suite on parallel workers (pytest-xdist; an idle worker takes tests queued for a
# busy one, so a few long browser tests do not leave one worker finishing alone), the 15
# slowest tests listed. Other pytest arguments replace these: make test ARGS="orders/tests/test_pricing.py -x -q"
ARGS ?= -n 4 --dist worksteal --durations=15
test:
	bash scripts/test.sh $(ARGS)

# ruff check, ruff format --check and mypy, after making or updating .venv as `make test` does.
lint:
	bash scripts/lint.sh

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

ci:
	bash .ci/run

clean:
	rm -rf .venv var .pytest_cache .ruff_cache .mypy_cache
