"""The image's health check: /healthz on the port gunicorn listens on (PORT, as in
gunicorn.conf.py). Exit status 0 when it answers 200, 1 otherwise."""

import os
import sys
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
