"""API conventions shared by every app (docs/api.md)."""
