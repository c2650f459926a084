"""The shell scripts read `.env` exactly as the app does (python-dotenv), with the real
environment winning over the file."""

import json
import os
import subprocess
import sys
from pathlib import Path

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[2]

ENV_FILE = """\
# a comment line
export EXPORTED=yes
QUOTED="two words"
SINGLE='kept # not a comment'
COMMENTED=value # an inline comment
SPACED = around equals
EMPTY=
ALREADY_SET=from-the-file
"""
NAMES = ["EXPORTED", "QUOTED", "SINGLE", "COMMENTED", "SPACED", "EMPTY", "ALREADY_SET"]


def test_the_scripts_see_the_env_file_as_the_app_does(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_FILE)
    show = f"import json, os; print(json.dumps({{n: os.environ.get(n) for n in {NAMES!r}}}))"
    result = subprocess.run(
        [
            "bash",
            "-c",
            'set -euo pipefail; eval "$("$PY" scripts/env_exports.py "$1")"; "$PY" -c "$2"',
            "bash",
            str(env_file),
            show,
        ],
        cwd=ROOT,
        env={**os.environ, "PY": sys.executable, "ALREADY_SET": "from-the-environment"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    expected = {**dotenv_values(env_file), "ALREADY_SET": "from-the-environment"}
    assert seen == {name: expected[name] for name in NAMES}
    assert seen["QUOTED"] == "two words"
    assert seen["COMMENTED"] == "value"
    assert seen["EXPORTED"] == "yes"
    assert seen["SINGLE"] == "kept # not a comment"
