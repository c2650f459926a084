"""Local settings (`make run`, `manage.py` by default): the embedded defaults."""

from rappi.settings.base import *  # noqa: F403
from rappi.settings.base import SIMPLE_JWT
from rappi.settings.env import env_str

# A fixed development key keeps sessions valid across restarts on a developer's machine;
# production settings refuse to start without a real SECRET_KEY.
SECRET_KEY = (
    env_str("SECRET_KEY", "") or "local-development-only-not-secret-0123456789-abcdefghijklmnop"
)
SIMPLE_JWT["SIGNING_KEY"] = env_str("JWT_SIGNING_KEY", "") or SECRET_KEY

# The embedded SQLite file and the local MongoDB-compatible server keep their data here.
VAR_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405
