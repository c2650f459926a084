"""Write helpers shared by the apps' services."""

from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, models

from rappi.errors import NotFoundError


def model_update(
    *,
    instance: models.Model,
    fields: Iterable[str],
    data: dict[str, Any],
    exclude: Iterable[str] = (),
    validate_given_only: bool = False,
    also_save: Iterable[str] = (),
) -> dict[str, tuple[Any, Any]]:
    """Set on `instance` the values `data` holds, validate it and write them; the edit
    code of the `*_update` services, whose own rules stay around it.

    `fields` are the ones the service lets callers change: another key in `data` is the
    caller's mistake, a TypeError as for an unexpected keyword argument. The instance is
    validated with `full_clean(exclude=exclude)`, or, with `validate_given_only`, in the
    fields `data` holds only (for services whose inputs come validated: checking the
    stored rest would cost queries and refuse nothing new). The save writes the fields in
    `data` (changed or not, so a stale instance skips none), `also_save` (what the service
    set itself, e.g. who made the change) and the `auto_now` ones such as `updated_at`.

    A row deleted since the instance was read is a `NotFoundError` (404), not a 500.

    Returns what changed, {field: (old, new)}, the form `audit_record(changes=...)`
    takes; a relation is compared, and given, by its id, so no related row is loaded."""
    allowed = set(fields)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise TypeError(f"{type(instance).__name__} fields not editable here: {', '.join(unknown)}")
    meta = instance._meta
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in data.items():
        field = meta.get_field(name)
        if isinstance(field, models.ForeignKey):
            old, new = getattr(instance, field.attname), getattr(value, "pk", value)
        else:
            old, new = getattr(instance, name), value
        if old != new:
            changes[name] = (old, new)
        setattr(instance, name, value)
    if validate_given_only:
        exclude = [f.name for f in meta.fields if f.name not in data]
    instance.full_clean(exclude=list(exclude))
    auto_now = [f.name for f in meta.concrete_fields if getattr(f, "auto_now", False)]
    update_fields = [*data, *also_save, *auto_now]
    if update_fields:
        try:
            instance.save(update_fields=update_fields)
        except DatabaseError as exc:
            # The row was deleted since it was read (Django 5.2 says so in words only).
            if "did not affect any rows" in str(exc):
                raise NotFoundError() from exc
            raise
    return changes
