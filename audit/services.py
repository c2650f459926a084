"""Domain audit: services record the actions that matter (tariff, role and permission
changes, deactivations, price adjustments, forced finishes, reopenings, manual
payments) with who did it, to which row, and each changed field's old and new value."""

import logging

from django.conf import settings
from django.db import transaction

from audit import records, writer

logger = logging.getLogger("audit.services")


def audit_record(*, action: str, target, changes: dict | None = None, actor=None) -> None:
    """Record `action` (e.g. "tariff.update") on `target` (a model instance, or a
    (type, id) pair) with `changes` as {field: (old, new)}. `actor` defaults to the
    current request's user. Inside a transaction the record waits for the commit and
    disappears with a rollback; then it takes the request records' path (queue, MongoDB,
    or the local spool while MongoDB is away). Never raises."""
    if not settings.AUDIT_ENABLED:
        return
    try:
        record = records.domain_record(action=action, target=target, changes=changes, actor=actor)
    except Exception:  # a broken audit call must not undo the change it describes
        logger.exception("Domain audit record not built", extra={"action": action})
        return
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: writer.submit(record), robust=True)
    else:
        writer.submit(record)
