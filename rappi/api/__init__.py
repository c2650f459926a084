"""API conventions shared by every app (SPEC §3)."""
