"""Admin helpers shared by the apps."""

from django.contrib import messages
from django.core.exceptions import ValidationError

from rappi.errors import DomainError


def call_service(modeladmin, request, label, fn) -> bool:
    """Run a service for an admin page or action: True on success; a refused change
    (domain or validation error) becomes an error message instead of a crash."""
    try:
        fn()
    except DomainError as exc:
        modeladmin.message_user(request, f"{label}: {exc.message}", messages.ERROR)
        return False
    except ValidationError as exc:
        modeladmin.message_user(request, f"{label}: {'; '.join(exc.messages)}", messages.ERROR)
        return False
    return True
