"""Settings: `base` reads the environment; `local`, `production` and `test` adjust it."""
