"""Local settings (`make run`, `manage.py` by default): the embedded defaults."""

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from rappi.settings.base import *  # noqa: F403
from rappi.settings.base import SIMPLE_JWT, VAR_DIR
from rappi.settings.env import env_str

# The embedded SQLite file and the local MongoDB-compatible server keep their data here.
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key(path: Path) -> str:
    """This checkout's own key, made on first start and kept (mode 0600) so sessions
    survive restarts. Never a key written in the code: anyone could forge tokens with it."""
    if not path.exists():
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(64) + "\n")
        try:
            os.link(scratch, path)  # atomic, and never replaces a key another process made
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    key = path.read_text().strip()
    if len(key.encode()) < 32:
        raise ImproperlyConfigured(f"{path} holds no usable key; delete it to make a new one.")
    return key


SECRET_KEY = env_str("SECRET_KEY", "") or _local_secret_key(VAR_DIR / "secret_key")
SIMPLE_JWT["SIGNING_KEY"] = env_str("JWT_SIGNING_KEY", "") or SECRET_KEY
