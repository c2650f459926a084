"""Domain errors: services raise them, the API exception handler renders them as
`{"error": {"code", "message", "details"}}` with their HTTP status."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "domain_error"
    http_status = 400
    default_message = _("The request cannot be carried out.")

    def __init__(self, message: str = "", **details):
        self.message = str(message or self.default_message)
        self.details = details
        super().__init__(self.message)


class NotFoundError(DomainError):
    code, http_status = "not_found", 404
    default_message = _("Not found.")


class PermissionDeniedError(DomainError):
    code, http_status = "permission_denied", 403
    default_message = _("You do not have permission to perform this action.")


class ConflictError(DomainError):
    code, http_status = "conflict", 409
    default_message = _("The request conflicts with the current state.")


class ConcurrentUpdateError(ConflictError):
    """PostgreSQL aborted the transaction to break a deadlock (or a serialization failure):
    nothing of the request was written, and trying again normally succeeds."""

    code = "concurrent_update"
    default_message = _(
        "Someone else changed the same records at the same moment, so nothing was changed. "
        "Try again."
    )


LOCK_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure


def is_lock_conflict(exc: BaseException) -> bool:
    """A database error that aborted the transaction only because of another one."""
    return getattr(exc.__cause__, "sqlstate", None) in LOCK_CONFLICT_SQLSTATES


def refusal(exc: BaseException) -> DomainError | None:
    """What a page tells the user when a service raised `exc`: a domain error as it is, a
    transaction another one aborted as `ConcurrentUpdateError`; None for a real failure."""
    if isinstance(exc, DomainError):
        return exc
    return ConcurrentUpdateError() if is_lock_conflict(exc) else None


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"
    default_message = _("This state change is not allowed.")

    @classmethod
    def between(cls, message: str, states, *, current: str, target: str, allowed: list[str]):
        """`message` naming the two states of the `states` enum by their labels
        (`%(current)s`, `%(target)s`), the raw values and the allowed targets in details."""
        labels = {"current": states(current).label.lower(), "target": states(target).label.lower()}
        return cls(message % labels, current=current, target=target, allowed=allowed)


class IdempotencyKeyReusedError(DomainError):
    code, http_status = "idempotency_key_reused", 422
    default_message = _("This Idempotency-Key was already used for a different request.")


class IdempotencyInProgressError(ConflictError):
    code = "idempotency_in_progress"
    default_message = _("A request with this Idempotency-Key is still being processed.")
