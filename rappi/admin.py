"""Admin helpers shared by the apps."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import OperationalError

from rappi.errors import DomainError, refusal


def call_service(modeladmin, request, label, fn) -> bool:
    """Run a service for an admin page or action: True on success; a refused change
    (domain or validation error) becomes an error message instead of a crash."""
    try:
        fn()
    except (DomainError, OperationalError) as exc:
        refused = refusal(exc)  # a deadlock lost is refused too, not a crash
        if refused is None:
            raise
        modeladmin.message_user(request, f"{label}: {refused.message}", messages.ERROR)
        return False
    except ValidationError as exc:
        modeladmin.message_user(request, f"{label}: {'; '.join(exc.messages)}", messages.ERROR)
        return False
    return True


def form_changes(form, *, fields=None) -> dict:
    """The fields an admin form changed (those among `fields`, when given), cleaned."""
    return {
        name: form.cleaned_data[name]
        for name in form.changed_data
        if fields is None or name in fields
    }


def save_changes(
    modeladmin, request, obj, form, update, *, fields=None, if_changed: bool = False
) -> bool:
    """Save an admin change form through its app's `*_update` service: `update(**changes)`
    gets the fields the form changed (those among `fields`, when given) with their cleaned
    values, and a refusal becomes an error message (`call_service`). With `if_changed`,
    a form that changed none of them calls nothing."""
    changes = form_changes(form, fields=fields)
    if if_changed and not changes:
        return True
    return call_service(modeladmin, request, obj, lambda: update(**changes))
