# Sourced by the other scripts: picks Python 3.13 ($PYTHON, python3.13 on PATH, or
# pyenv's) and makes the virtualenv in .venv up to date with requirements-dev.txt.
find_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  if command -v python3.13 >/dev/null 2>&1 && python3.13 -c '' 2>/dev/null; then
    command -v python3.13; return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in "$(pyenv root)"/versions/3.13*/bin/python3.13; do
      [ -x "$candidate" ] && { echo "$candidate"; return; }
    done
  fi
  echo "Python 3.13 is required: set PYTHON=/path/to/python3.13" >&2
  return 1
}

ensure_venv() {
  local requirements="${1:-requirements-dev.txt}"
  local stamp=".venv/.installed-$(basename "$requirements")"
  if [ ! -x .venv/bin/python ]; then
    local python; python=$(find_python) || exit 1
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  # Reinstall only when a requirements file (the one asked for includes the others)
  # changed since the last install.
  local stale="" file
  for file in requirements*.txt; do [ "$file" -nt "$stamp" ] && stale=1; done
  if [ ! -f "$stamp" ] || [ -n "$stale" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$stamp"
  fi
}
