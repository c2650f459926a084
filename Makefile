# The two commands: `make run` (the app with demo data) and `make test` (the whole suite).
.PHONY: run test lint format ci clean

run:
	bash scripts/run.sh

# Extra pytest arguments: make test ARGS="-k sessions -x"
test:
	bash scripts/test.sh $(ARGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

ci:
	bash .ci/run

clean:
	rm -rf .venv var .pytest_cache .ruff_cache
