#!/usr/bin/env bash
# `make lint`: ruff (lint rules and formatting) and mypy over the whole project, in the
# virtualenv `make test` uses (made or brought up to date from requirements-dev.txt first).
# Every check runs even when an earlier one fails, so one pass shows everything.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/python.sh
ensure_venv requirements-dev.txt

status=0
echo "== ruff check"
.venv/bin/ruff check . || status=1
echo "== ruff format --check"
.venv/bin/ruff format --check . || status=1
# What it checks and with which settings: pyproject.toml [tool.mypy], CONTRIBUTING.md.
echo "== mypy"
.venv/bin/mypy || status=1
exit "$status"
