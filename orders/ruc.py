"""Peruvian RUC (Registro Único de Contribuyentes): the SUNAT checksum, always, and an
optional lookup in a registry API (RUC_LOOKUP_URL) that confirms the taxpayer exists.

Worked examples of the check digit (weights 5 4 3 2 7 6 5 4 3 2 over the first 10 digits):

    20100070970: 2·5+1·3+7·5+9·3+7·2 = 89; 89 % 11 = 1; 11 - 1 = 10 -> 0  (last digit 0)
    20131312955: 2·5+1·3+3·2+1·7+3·6+1·5+2·4+9·3+5·2 = 94; 94 % 11 = 6; 11 - 6 = 5
    20100047218: 2·5+1·3+4·5+7·4+2·3+1·2 = 69; 69 % 11 = 3; 11 - 3 = 8
    20000000061: 2·5+6·2 = 22; 22 % 11 = 0; 11 - 0 = 11 -> 1
"""

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rappi.errors import DomainError

logger = logging.getLogger(__name__)

_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# 10: natural person; 15/16/17: non-domiciled, foreign and special cases; 20: company.
_PREFIXES = frozenset({"10", "15", "16", "17", "20"})
# [0-9], not \d: \d also matches non-ASCII digits such as Arabic-Indic ones.
_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")
# A registry answer is a few hundred bytes; anything far larger is not one.
_MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)  # no slots: the API view serialises it through __dict__
class RucInfo:
    ruc: str
    business_name: str
    status: str
    condition: str
    address: str
    # True when the registry answered; False when only the checksum was checked.
    verified: bool


class InvalidRucError(DomainError):
    code, http_status = "invalid_ruc", 400
    default_message = _("The RUC is not valid.")


class RucNotRegisteredError(DomainError):
    code, http_status = "ruc_not_found", 404
    default_message = _("The RUC is not registered with SUNAT.")


class RucRegistryUnavailableError(DomainError):
    code, http_status = "ruc_registry_unavailable", 503
    default_message = _("The RUC registry cannot be reached; try again later.")


def _check_digit(first_ten: str) -> int:
    remainder = 11 - sum(int(d) * w for d, w in zip(first_ten, _WEIGHTS, strict=True)) % 11
    return remainder - 10 if remainder >= 10 else remainder


def _problem(ruc: str) -> tuple[str, str] | None:
    """(reason code, human message) for an invalid RUC, None for a valid one."""
    if not isinstance(ruc, str) or not _ELEVEN_DIGITS.fullmatch(ruc):
        return "format", gettext("A RUC has exactly 11 digits.")
    if ruc[:2] not in _PREFIXES:
        return "prefix", gettext("A RUC starts with 10, 15, 16, 17 or 20.")
    if _check_digit(ruc[:10]) != int(ruc[10]):
        return "check_digit", gettext("The RUC check digit is wrong.")
    return None


def ruc_is_valid(ruc: str) -> bool:
    return _problem(ruc) is None


def ruc_validation_error(ruc: str) -> str | None:
    """What is wrong with `ruc` (translated), or None when it passes the checksum."""
    problem = _problem(ruc)
    return problem[1] if problem else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would resend the bearer token to wherever a redirect points; a registry API
    # has no reason to redirect, so a 3xx surfaces as an HTTPError (registry unavailable).
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class _RegistryError(Exception):
    """The registry could not give a usable answer (network, status or body)."""


def _text(body: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = body.get(key)
        if isinstance(value, str):
            return value.strip()
        if value is not None:
            raise _RegistryError(f"field {key!r} is not a string")
    return ""


def _parse(ruc: str, raw: bytes) -> RucInfo:
    try:
        body = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise _RegistryError(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _RegistryError("the body is not a JSON object")
    # Without a business name the answer confirms nothing, so it is not a verification.
    if not any(isinstance(body.get(k), str) for k in ("business_name", "razonSocial")):
        raise _RegistryError("the body has no business name")
    return RucInfo(
        ruc=ruc,
        business_name=_text(body, "business_name", "razonSocial"),
        status=_text(body, "status", "estado"),
        condition=_text(body, "condition", "condicion"),
        address=_text(body, "address", "direccion"),
        verified=True,
    )


def _fetch(ruc: str) -> RucInfo:
    """One GET to the registry; RucNotRegisteredError on 404, _RegistryError otherwise."""
    url = f"{settings.RUC_LOOKUP_URL.rstrip('/')}/{ruc}"
    if not url.lower().startswith(("http://", "https://")):
        # urllib would also open file:// and ftp:// URLs.
        raise _RegistryError(f"RUC_LOOKUP_URL must be http(s): {settings.RUC_LOOKUP_URL!r}")
    headers = {"Accept": "application/json"}
    if settings.RUC_LOOKUP_TOKEN:
        headers["Authorization"] = f"Bearer {settings.RUC_LOOKUP_TOKEN}"
    request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 (checked above)
    try:
        with _opener.open(request, timeout=float(settings.EXTERNAL_HTTP_TIMEOUT_S)) as response:
            raw = response.read(_MAX_BODY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            raise RucNotRegisteredError(ruc=ruc) from None
        # 401/403/429/5xx say nothing about the RUC itself: the registry is unusable.
        raise _RegistryError(f"HTTP {exc.code}") from None
    # OSError covers URLError, timeouts and resets; HTTPException a broken HTTP exchange;
    # ValueError a URL urllib cannot parse.
    except (OSError, HTTPException, ValueError) as exc:
        raise _RegistryError(f"{type(exc).__name__}: {exc}") from None
    if len(raw) > _MAX_BODY_BYTES:
        raise _RegistryError("the body is too large")
    return _parse(ruc, raw)


def ruc_lookup(ruc: str) -> RucInfo:
    """Validate `ruc` and, when RUC_LOOKUP_URL is set, confirm it with the registry.

    Raises InvalidRucError (bad format/checksum), RucNotRegisteredError (the registry
    answered 404) or, when RUC_LOOKUP_FAIL_OPEN is off, RucRegistryUnavailableError.
    With fail-open, an unreachable or misbehaving registry yields `verified=False`.
    """
    problem = _problem(ruc)
    if problem:
        reason, message = problem
        raise InvalidRucError(message, ruc=ruc, reason=reason)
    unverified = RucInfo(ruc, "", "", "", "", verified=False)
    if not settings.RUC_LOOKUP_URL:
        return unverified
    try:
        return _fetch(ruc)
    except _RegistryError as exc:
        if settings.RUC_LOOKUP_FAIL_OPEN:
            logger.warning("RUC registry unavailable, accepting %s on its checksum: %s", ruc, exc)
            return unverified
        logger.warning("RUC registry unavailable, refusing to verify %s: %s", ruc, exc)
        raise RucRegistryUnavailableError(ruc=ruc) from None
