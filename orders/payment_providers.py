"""Payment provider clients: the simulated provider (local development, demos) and
MercadoPago Checkout Pro (preferences, signed webhooks, payment reads).

Settings are read at call time so tests and deployments can switch providers without
re-importing. Every failure talking to a provider surfaces as `PaymentProviderError`
(503), except a payment the provider says does not exist (`ProviderPaymentNotFoundError`);
a webhook that cannot be authenticated as `WebhookSignatureError` (401).
"""

import hashlib
import hmac
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from http.client import HTTPException
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from rappi.errors import DomainError

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
WEBHOOK_PATH = "/api/v1/payments/webhooks/mercadopago"

# MercadoPago payment status -> ours. Anything not listed (pending, in_process, authorized,
# in_mediation, or a status added later) is still open, so it maps to "pending".
_MP_STATUSES = {
    "approved": "approved",
    "rejected": "rejected",
    "cancelled": "rejected",
    "refunded": "refunded",
    "charged_back": "refunded",
}
# ASCII digits only: int() would also accept "+1", " 1", "1_0" and non-ASCII digits.
_TS_RE = re.compile(r"[0-9]{1,12}")


class PaymentProviderError(DomainError):
    code, http_status = "payment_provider_unavailable", 503
    default_message = _("The payment provider is unavailable. Please try again later.")


class ProviderPaymentNotFoundError(PaymentProviderError):
    """The provider answered 404 for a payment id: asking again will not help."""

    default_message = _("The payment provider does not know this payment.")


class WebhookSignatureError(DomainError):
    code, http_status = "invalid_signature", 401
    default_message = _("The notification signature is invalid.")


@dataclass(frozen=True)
class Checkout:
    external_id: str  # provider's id for this checkout (preference id / simulated id)
    checkout_url: str


@dataclass(frozen=True)
class ProviderPayment:
    external_id: str  # provider's payment id
    status: str  # normalised: "approved" | "rejected" | "pending" | "refunded"
    external_reference: str  # what we sent: our payment id as a string
    amount: Decimal
    currency: str
    paid_at: datetime | None  # aware UTC


def _public_base_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/")


SIMULATED_CHECKOUT_SALT = "orders.simulated-checkout"


def simulated_checkout_token(payment_id: int) -> str:
    """A signed, timestamped token naming one payment: the simulated checkout page's key."""
    return signing.TimestampSigner(salt=SIMULATED_CHECKOUT_SALT).sign(str(payment_id))


def simulated_checkout_payment_id(token: str) -> int:
    """The payment a token names; `signing.SignatureExpired` once it is older than
    `SIMULATED_CHECKOUT_MAX_AGE_S`, `signing.BadSignature` if it is not one of ours."""
    value = signing.TimestampSigner(salt=SIMULATED_CHECKOUT_SALT).unsign(
        token, max_age=settings.SIMULATED_CHECKOUT_MAX_AGE_S
    )
    return int(value)


class SimulatedProvider:
    """No money moves: the checkout URL is our own page, opened by a short-lived signed
    link, where the buyer approves or rejects the payment."""

    name = "simulated"

    def checkout_url(self, *, payment_id: int) -> str:
        """A fresh link to the payment's page (links expire; a reused checkout gets a new one)."""
        path = reverse("simulated-checkout", kwargs={"token": simulated_checkout_token(payment_id)})
        return f"{_public_base_url()}{path}"

    def create_checkout(
        self,
        *,
        payment_id: int,
        order_id: int,
        amount: Decimal,
        currency: str,
        description: str,
        payer_email: str,
    ) -> Checkout:
        return Checkout(
            external_id=f"sim-{payment_id}", checkout_url=self.checkout_url(payment_id=payment_id)
        )


def _manifest(*, data_id: str, request_id: str, ts: str) -> str:
    # MercadoPago's template `id:<data.id>;request-id:<x-request-id>;ts:<ts>;`, leaving out
    # a part whose value is missing; an alphanumeric data.id is signed in lowercase.
    parts = []
    if data_id:
        parts.append(f"id:{data_id.lower()}")
    if request_id:
        parts.append(f"request-id:{request_id}")
    parts.append(f"ts:{ts}")
    return "".join(f"{part};" for part in parts)


def _hmac_hex(secret: str, manifest: str) -> str:
    return hmac.new(secret.encode(), manifest.encode(), hashlib.sha256).hexdigest()


def sign_webhook(*, secret: str, data_id: str, request_id: str, ts: int) -> str:
    """The `x-signature` header value MercadoPago would send for this notification."""
    manifest = _manifest(data_id=data_id, request_id=request_id, ts=str(ts))
    return f"ts={ts},v1={_hmac_hex(secret, manifest)}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would replay the Authorization header to wherever a 3xx points; the API never
    # redirects, so a redirect is treated as a failure instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _error_body(exc: urllib.error.HTTPError) -> str:
    # For the log only: MercadoPago explains refusals there. Reading it may fail too.
    try:
        return exc.read(500).decode(errors="replace")
    except (OSError, HTTPException, ValueError):
        return ""


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


class MercadoPagoProvider:
    """Checkout Pro over its REST API, with the standard library's HTTP client."""

    name = "mercadopago"

    def __init__(self, *, access_token: str, webhook_secret: str, api_url: str, timeout_s: float):
        if urllib.parse.urlsplit(api_url).scheme not in ("http", "https"):
            # Also keeps urllib away from file:// and other schemes it would happily open.
            raise ImproperlyConfigured(f"MP_API_URL must be an http(s) URL, not {api_url!r}.")
        self.access_token = access_token
        self.webhook_secret = webhook_secret
        self.api_url = api_url.rstrip("/")
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_NoRedirect)

    # --- HTTP -------------------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.access_token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            # Non-2xx (3xx included, see _NoRedirect). The body may explain; keep it short.
            logger.warning(
                "mercadopago %s %s answered %s: %s", method, path, exc.code, _error_body(exc)
            )
            raise PaymentProviderError(provider=self.name, upstream_status=exc.code) from exc
        except (OSError, HTTPException) as exc:  # URLError and timeouts are OSErrors too
            logger.warning("mercadopago %s %s failed: %r", method, path, exc)
            raise PaymentProviderError(provider=self.name) from exc
        try:
            # parse_float keeps amounts exact; NaN/Infinity arrive as floats and are refused.
            body = json.loads(raw, parse_float=Decimal)
        except ValueError as exc:
            logger.warning("mercadopago %s %s answered non-JSON", method, path)
            raise PaymentProviderError(provider=self.name) from exc
        if not isinstance(body, dict):
            logger.warning("mercadopago %s %s answered a non-object", method, path)
            raise PaymentProviderError(provider=self.name)
        return body

    def _malformed(self, what: str) -> PaymentProviderError:
        logger.warning("mercadopago answer without a usable %s", what)
        return PaymentProviderError(provider=self.name)

    # --- Checkout ---------------------------------------------------------------------------

    def create_checkout(
        self,
        *,
        payment_id: int,
        order_id: int,
        amount: Decimal,
        currency: str,
        description: str,
        payer_email: str,
    ) -> Checkout:
        """Create a Checkout Pro preference for one payment of ours."""
        base = _public_base_url()
        # There is no customer page yet: the buyer comes back to the home page, and the
        # webhook, not this redirect, is what confirms the payment.
        back = f"{base}/?order={order_id}&payment={payment_id}"
        preference = {
            "items": [
                {
                    "id": str(order_id),
                    "title": str(description),
                    "quantity": 1,
                    # A JSON number; a 2-decimal Decimal survives float() exactly.
                    "unit_price": float(amount.quantize(CENT, rounding=ROUND_HALF_UP)),
                    "currency_id": currency,
                }
            ],
            # A walk-in customer may have no email; MercadoPago then asks the buyer.
            **({"payer": {"email": payer_email}} if payer_email else {}),
            "external_reference": str(payment_id),
            "notification_url": f"{base}{WEBHOOK_PATH}",
            "back_urls": {
                "success": f"{back}&result=success",
                "pending": f"{back}&result=pending",
                "failure": f"{back}&result=failure",
            },
            "auto_return": "approved",
        }
        body = self._call("POST", "/checkout/preferences", preference)
        preference_id, init_point = _text(body.get("id")), body.get("init_point")
        if not preference_id:
            raise self._malformed("preference id")
        if not isinstance(init_point, str) or not init_point.startswith(("https://", "http://")):
            raise self._malformed("init_point")
        return Checkout(external_id=preference_id, checkout_url=init_point)

    # --- Payments ---------------------------------------------------------------------------

    def fetch_payment(self, external_id: str) -> ProviderPayment:
        """Read a payment back from MercadoPago: the only source we trust for its state."""
        path = f"/v1/payments/{urllib.parse.quote(str(external_id), safe='')}"
        try:
            body = self._call("GET", path)
        except PaymentProviderError as exc:
            if exc.details.get("upstream_status") == 404:
                raise ProviderPaymentNotFoundError(
                    provider=self.name, payment_id=str(external_id)
                ) from exc
            raise
        payment_id, status = _text(body.get("id")), body.get("status")
        amount, currency = body.get("transaction_amount"), body.get("currency_id")
        if not payment_id:
            raise self._malformed("payment id")
        if not isinstance(status, str) or not status:
            raise self._malformed("status")
        # bool is an int; floats only come from NaN/Infinity (see _call).
        if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
            raise self._malformed("transaction_amount")
        if not isinstance(currency, str) or not currency:
            raise self._malformed("currency_id")
        return ProviderPayment(
            external_id=payment_id,
            status=_MP_STATUSES.get(status, "pending"),
            # Payments not made through our preferences carry none; the caller ignores them.
            external_reference=_text(body.get("external_reference")),
            amount=Decimal(amount),
            currency=currency,
            paid_at=self._parse_datetime(body.get("date_approved")),
        )

    def _parse_datetime(self, value: Any) -> datetime | None:
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise self._malformed("date_approved") from None
        if parsed.tzinfo is None:
            raise self._malformed("date_approved")
        return parsed.astimezone(UTC)

    # --- Webhooks ---------------------------------------------------------------------------

    def verify_webhook(
        self,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: dict,
        now: float | None = None,
    ) -> str:
        """Authenticate a notification and return the payment id it names.

        Only the id comes out of the request; the caller then reads the payment from
        MercadoPago itself, so a replay within the tolerance window changes nothing.
        """
        data = body.get("data") if isinstance(body, dict) else None
        # MercadoPago signs the data.id of the URL; the body's copy is the fallback.
        data_id = _text(query.get("data.id")) or (
            _text(data.get("id")) if isinstance(data, dict) else ""
        )
        lowered = {key.lower(): value for key, value in headers.items()}
        request_id = _text(lowered.get("x-request-id"))

        def refuse(reason: str) -> WebhookSignatureError:
            # The reason is logged, never returned: it would coach a forger.
            logger.warning(
                "mercadopago webhook refused: %s",
                reason,
                # Not `request_id`: that is our own request's id in every log line.
                extra={"mp_request_id": request_id, "mp_data_id": data_id},
            )
            return WebhookSignatureError()

        if not self.webhook_secret:
            raise refuse("MP_WEBHOOK_SECRET is not configured")
        header = _text(lowered.get("x-signature"))
        if not header:
            raise refuse("no x-signature header")
        fields: dict[str, str] = {}
        for part in header.split(","):
            key, sep, value = part.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or not key or not value or key in fields:
                raise refuse("malformed x-signature header")
            fields[key] = value
        ts, v1 = fields.get("ts", ""), fields.get("v1", "")
        if not ts or not v1:
            raise refuse("x-signature without ts or v1")
        if not _TS_RE.fullmatch(ts):
            raise refuse("x-signature ts is not an integer")
        expected = _hmac_hex(
            self.webhook_secret, _manifest(data_id=data_id, request_id=request_id, ts=ts)
        )
        # Bytes, not str: compare_digest refuses non-ASCII str with a TypeError.
        if not hmac.compare_digest(expected.encode(), v1.encode()):
            raise refuse("signature mismatch")
        current = time.time() if now is None else now
        if abs(current - int(ts)) > settings.MP_WEBHOOK_TOLERANCE_S:
            raise refuse("x-signature ts outside the tolerance window")
        if not data_id:
            raise refuse("notification without data.id")
        return data_id


def get_provider(name: str | None = None) -> SimulatedProvider | MercadoPagoProvider:
    """The provider called `name`, by default `settings.PAYMENT_PROVIDER`."""
    name = name or settings.PAYMENT_PROVIDER
    if name == SimulatedProvider.name:
        return SimulatedProvider()
    if name == MercadoPagoProvider.name:
        if not settings.MP_ACCESS_TOKEN:
            raise ImproperlyConfigured(
                "The mercadopago payment provider needs MP_ACCESS_TOKEN "
                "(an access token from MercadoPago's 'Your integrations')."
            )
        return MercadoPagoProvider(
            access_token=settings.MP_ACCESS_TOKEN,
            webhook_secret=settings.MP_WEBHOOK_SECRET,
            api_url=settings.MP_API_URL,
            timeout_s=settings.EXTERNAL_HTTP_TIMEOUT_S,
        )
    raise ImproperlyConfigured(
        f"Unknown payment provider {name!r}: PAYMENT_PROVIDER must be 'simulated' or 'mercadopago'."
    )
