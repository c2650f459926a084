"""Run the README's walk-throughs against a running Rappi, as a reader would paste them.

    .venv/bin/python scripts/readme_walkthroughs.py [--base http://127.0.0.1:8000] [--list]

A walk-through is a ```sh block right after a `<!-- walkthrough -->` line. They run in
order in one bash session (so a variable set in one is there in the next), from the
checkout, with `set -euo pipefail`, and with curl told to fail on an HTTP error status
(printing its body), so a step that breaks stops the run. `http://127.0.0.1:8000` is
replaced by `--base`. A line ending in `# → VALUE` also checks that the last line its
command printed is VALUE (it may then be an error status the step expects). Every other
```sh block must be marked `<!-- not a walkthrough -->`, so none is forgotten. The test
suite runs this against `make run` (rappi/tests/test_readme.py)."""

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEFAULT_BASE = "http://127.0.0.1:8000"
RUN = "<!-- walkthrough -->"
SKIP = "<!-- not a walkthrough -->"
_FENCE = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
_EXPECT = re.compile(r"^(?P<command>.*?)\s+#\s*→\s*(?P<value>.+?)\s*$")


class UnmarkedBlockError(ValueError):
    pass


def walkthroughs(text: str) -> list[str]:
    """The walk-through blocks, in order; an unmarked ```sh block is an error."""
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        if before == RUN:
            blocks.append(match.group(1))
        elif before != SKIP:
            line = text[: match.start()].count("\n") + 1
            raise UnmarkedBlockError(f"README.md:{line}: mark the ```sh block with {RUN} or {SKIP}")
    return blocks


def _checked(line: str) -> str:
    """`command   # → value` becomes the command plus a check of its last output line."""
    match = _EXPECT.match(line)
    if not match or line.rstrip().endswith("\\"):
        return line
    command, value = match.group("command"), match.group("value").strip().strip("`")
    return (
        f"__out=$({command}) || true; printf '%s\\n' \"$__out\"; "
        f'[ "$(printf %s "$__out" | tail -n 1)" = {shlex.quote(value)} ] || '
        f"{{ echo {shlex.quote(f'expected {value!r} from: {command.strip()}')} >&2; exit 1; }}"
    )


def script(blocks: list[str], base: str) -> str:
    lines = ["set -euo pipefail"]
    for index, block in enumerate(blocks, 1):
        lines.append(f"echo '--- walk-through {index}' >&2")
        lines.extend(_checked(line) for line in block.replace(DEFAULT_BASE, base).splitlines())
    return "\n".join(lines) + "\n"


def run(base: str, *, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    blocks = walkthroughs(README.read_text())
    with tempfile.TemporaryDirectory() as curl_home:
        # curl reads this on every call: an HTTP error status fails the step, body shown.
        Path(curl_home, ".curlrc").write_text("fail-with-body\nshow-error\nmax-time = 60\n")
        return subprocess.run(  # noqa: S603 - the README's own blocks, run on purpose
            ["bash", "-c", script(blocks, base)],  # noqa: S607 - bash from the PATH
            cwd=ROOT,
            env={**(env or os.environ), "CURL_HOME": curl_home},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help="where Rappi answers")
    parser.add_argument("--list", action="store_true", help="print the script, run nothing")
    args = parser.parse_args()
    if args.list:
        print(script(walkthroughs(README.read_text()), args.base))
        return 0
    result = run(args.base.rstrip("/"))
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
