"""Running a service from a console form: success is a message and a redirect (so a
reload never repeats the command); a refusal (a domain error, a validation error) is the
error's own message on the page, never a 500; so is a lost race, a transaction PostgreSQL
aborted to break a deadlock."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import OperationalError

from rappi.errors import DomainError, refusal


def perform(request, command, *, success: str = "") -> bool:
    """Run `command()`; True when it went through (and `success` is shown), False when it
    was refused (and why is shown)."""
    try:
        command()
    except (DomainError, OperationalError) as exc:
        refused = refusal(exc)
        if refused is None:
            raise
        messages.error(request, refused.message)
        return False
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return False
    if success:
        messages.success(request, success)
    return True


def form_errors(request, form) -> None:
    """A form that did not validate: its errors as one message each."""
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)
