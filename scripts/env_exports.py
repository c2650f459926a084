"""Print `export NAME='value'` for each variable a `.env` file sets that the environment
does not, parsed by python-dotenv exactly as the app parses it (rappi/settings/base.py,
where real environment variables win too). The shell scripts `eval` this output, so the
file is read one way only: quotes, inline comments and `export` prefixes mean the same
to `make run` as to Django."""

import os
import shlex
import sys

from dotenv import dotenv_values


def exports(path: str) -> list[str]:
    lines = []
    for name, value in dotenv_values(path).items():
        if value is None or name in os.environ or not name.isidentifier():
            continue
        lines.append(f"export {name}={shlex.quote(value)}")
    return lines


if __name__ == "__main__":
    if os.path.exists(sys.argv[1]):
        print("\n".join(exports(sys.argv[1])))
