"""JWT issue and decode. Tokens carry `user_id` and `sid` (the UserSession id)."""

from datetime import UTC, datetime

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from identity.errors import TokenInvalid

SESSION_CLAIM = "sid"


def new_refresh_token(*, user, session_id: int) -> RefreshToken:
    token = RefreshToken.for_user(user)
    token[SESSION_CLAIM] = session_id
    return token


def expiry_of(token) -> datetime:
    return datetime.fromtimestamp(token["exp"], tz=UTC)


def decode_refresh(raw: str) -> RefreshToken:
    try:
        token = RefreshToken(raw)
    except TokenError:
        raise TokenInvalid() from None
    if SESSION_CLAIM not in token or "user_id" not in token:
        raise TokenInvalid()
    return token


def decode_access(raw: str | bytes) -> AccessToken:
    try:
        token = AccessToken(raw)
    except TokenError:
        raise TokenInvalid() from None
    if SESSION_CLAIM not in token or "user_id" not in token:
        raise TokenInvalid()
    return token


def token_pair(refresh: RefreshToken) -> dict[str, str]:
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
