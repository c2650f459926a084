"""Test helpers shared by the apps' suites (not imported by production code)."""
