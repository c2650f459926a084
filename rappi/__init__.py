"""Rappi core: settings, URL routing, API conventions (errors, pagination, filtering,
permissions, idempotency, throttling), MongoDB connection and health checks.
It knows no business domain; the apps build on it."""
