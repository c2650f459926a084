#!/usr/bin/env bash
# Known vulnerabilities in the pinned requirements (pip-audit, PyPI's advisory data).
# Where that database cannot be reached (a closed network answers "not found" for every
# package, which pip-audit reports as a clean run), this says plainly that nothing was
# audited instead of passing in silence.
set -uo pipefail
cd "$(dirname "$0")/.."
PIP_AUDIT=(.venv/bin/pip-audit --no-deps --disable-pip --progress-spinner off)

probe=$(mktemp)
trap 'rm -f "$probe"' EXIT
# A release with published advisories: a reachable database must report some.
echo "django==3.2" >"$probe"
if ! "${PIP_AUDIT[@]}" -r "$probe" -f json 2>/dev/null | .venv/bin/python -c '
import json, sys
report = json.load(sys.stdin)
sys.exit(0 if any(dep.get("vulns") for dep in report.get("dependencies", [])) else 1)'; then
  echo "pip-audit: NOT RUN. The vulnerability database (PyPI advisories) is unreachable from"
  echo "this machine, so the pinned requirements were not audited. Run scripts/audit_dependencies.sh"
  echo "where PyPI's JSON API is reachable."
  exit 0
fi
# Strict: a requirement that could not be looked up fails the audit too.
"${PIP_AUDIT[@]}" --strict -r requirements-dev.txt
