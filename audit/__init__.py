"""Audit (MongoDB): one record per HTTP request and explicit domain audit records."""
