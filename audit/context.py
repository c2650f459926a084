"""The request being handled, for code that runs inside it without a reference to it:
the sign-in signal receivers (who tried to sign in) and `audit_record` (who acted, from
which request)."""

from contextvars import ContextVar, Token

_current = ContextVar("audit_request", default=None)

# Attributes noted on the Django request while it runs.
SIGNED_IN = "_audit_signed_in"  # (user_id, username) of a successful sign-in
ATTEMPTED = "_audit_attempted_username"  # the account a failed sign-in named


def begin(request) -> Token:
    return _current.set(request)


def end(token: Token) -> None:
    _current.reset(token)


def current_request():
    return _current.get()


def acting_user(request=None):
    """The authenticated user of the current request (DRF puts the user it authenticated
    on the Django request too), or None."""
    request = request if request is not None else current_request()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def note(name: str, value) -> None:
    request = current_request()
    if request is not None:
        setattr(request, name, value)
