"""Bearer JWT authentication checked against the session table on every request, so a
revoked session, a deactivated user or a changed role takes effect at once, not when the
token expires: one query per request (identity.selectors.session_user)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework_simplejwt.authentication import JWTAuthentication

from identity import selectors
from identity.errors import TokenInvalid
from identity.tokens import SESSION_CLAIM, decode_access


class SessionJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        parts = header.split()
        if not parts:
            return None
        if parts[0].decode(errors="replace") not in ("Bearer",):
            raise TokenInvalid("Use `Authorization: Bearer <access token>`.")
        if len(parts) != 2:
            raise TokenInvalid("The Authorization header must be `Bearer <access token>`.")
        token = decode_access(parts[1])
        return self.get_user(token), token

    def get_user(self, validated_token):
        user = selectors.session_user(
            public_id=validated_token[SESSION_CLAIM], user_id=validated_token["user_id"]
        )
        if user is None:
            raise TokenInvalid()
        return user


class SessionJWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = SessionJWTAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
