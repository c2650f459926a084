"""JWT issue and decode. Tokens carry `user_id` and `sid` (the UserSession's random
`public_id`, never its row id)."""

from datetime import UTC, datetime

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from identity.errors import TokenInvalid

SESSION_CLAIM = "sid"


def new_refresh_token(*, user, session_id: str) -> RefreshToken:
    token = RefreshToken.for_user(user)
    token[SESSION_CLAIM] = session_id
    return token


def expiry_of(token) -> datetime:
    return datetime.fromtimestamp(token["exp"], tz=UTC)


def _checked(token):
    # A session id that is no string is a token from before public ids, or forged.
    if not isinstance(token.get(SESSION_CLAIM), str) or "user_id" not in token:
        raise TokenInvalid()
    return token


def decode_refresh(raw: str) -> RefreshToken:
    try:
        token = RefreshToken(raw)  # type: ignore[arg-type]  # simplejwt types it as a Token
    except TokenError:
        raise TokenInvalid() from None
    return _checked(token)


def decode_access(raw: str | bytes) -> AccessToken:
    try:
        token = AccessToken(raw)  # type: ignore[arg-type]
    except TokenError:
        raise TokenInvalid() from None
    return _checked(token)


def token_pair(refresh: RefreshToken) -> dict[str, str]:
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
