"""Server-rendered pages of the orders app: the simulated payment provider's checkout.

A real provider's checkout is a page the buyer's browser opens from `checkout_url`, without
our API's bearer token; the simulated one is the same: the URL carries a short-lived signed
token for one payment, and the buttons go through `payment_simulate`, as
`POST /api/v1/payments/{id}/simulate` does."""

from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from orders import services
from orders.models import Payment, PaymentStatus
from orders.payment_providers import SimulatedProvider, simulated_checkout_payment_id
from rappi.errors import DomainError

TEMPLATE = "orders/simulated_checkout.html"
OUTCOMES = ("approved", "rejected")
CURRENCY_SYMBOLS = {"PEN": "S/"}


def money(amount: Decimal, currency: str) -> str:
    """`S/ 18.50`: the symbol Peruvians read, two decimals whatever the language."""
    return f"{CURRENCY_SYMBOLS.get(currency, currency)} {amount:.2f}"


def _page(request, context: dict, status: int = 200):
    response = render(request, TEMPLATE, context, status=status)
    # The token in the URL is the key to the payment: never sent to another site, never
    # indexed. Not `no-referrer`: with it browsers send `Origin: null` on the page's own
    # form, which the CSRF check rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _problem(request, status: int, title: str, message: str):
    return _page(request, {"problem": {"title": title, "message": message}}, status=status)


def _can_simulate(payment: Payment) -> bool:
    return (
        payment.status == PaymentStatus.PENDING
        # Its own provider, and the one this server is configured with.
        and payment.provider == settings.PAYMENT_PROVIDER == SimulatedProvider.name
    )


def _state_message(payment: Payment) -> str:
    """What the page says about a payment nobody can press a button for any more."""
    if payment.status == PaymentStatus.PAID:
        return _("This payment has already been settled. Nothing more to do.")
    if payment.status == PaymentStatus.REFUNDED:
        return _("This payment was refunded.")
    if payment.status == PaymentStatus.FAILED:
        return _(
            "This payment was declined or replaced. Go back to the app and tap Pay for a new one."
        )
    if payment.provider != SimulatedProvider.name:
        return _("This payment is pending with another provider; it cannot be simulated here.")
    return _("Simulated payments are switched off on this server.")


def _result_message(before: str, payment: Payment, outcome: str) -> tuple[str, str]:
    """(css class, text) after a button was pressed."""
    if payment.status == PaymentStatus.PAID:
        if before == PaymentStatus.PAID:
            return "info", _("This payment was already settled; nothing was charged again.")
        return "success", _("Payment approved. Order #%(id)s is confirmed.") % {
            "id": payment.order_id
        }
    if payment.needs_refund:
        return "warning", _(
            "The payment was received but could not settle the order; it will be refunded."
        )
    if outcome == "rejected" and before == PaymentStatus.FAILED:
        return "info", _("This payment was already declined.")
    return "declined", _("Payment declined. No money was taken.")


@never_cache
@require_http_methods(["GET", "POST"])
def simulated_checkout(request, token: str):
    try:
        payment_id = simulated_checkout_payment_id(token)
    except signing.SignatureExpired:
        return _problem(
            request,
            403,
            _("This payment link has expired"),
            _("Go back to the app and tap Pay again for a new link."),
        )
    except (signing.BadSignature, ValueError):
        return _problem(
            request,
            403,
            _("This payment link is not valid"),
            _("Open the link the app gave you, or tap Pay again for a new one."),
        )
    payment = Payment.objects.select_related("order").filter(pk=payment_id).first()
    if payment is None:
        return _problem(
            request,
            404,
            _("This payment link is not valid"),
            _("Open the link the app gave you, or tap Pay again for a new one."),
        )
    result, status = None, 200
    if request.method == "POST":
        outcome = request.POST.get("outcome")
        if outcome not in OUTCOMES:
            return _problem(
                request,
                400,
                _("Unknown choice"),
                _("Press Approve or Reject."),
            )
        before = payment.status
        try:
            payment = services.payment_simulate(payment=payment, outcome=outcome)
        except DomainError:
            # Not pending any more, or not the simulated provider's: say what it is.
            payment.refresh_from_db()
            status = 409
            result = {"kind": "info", "message": _state_message(payment)}
        else:
            kind, message = _result_message(before, payment, outcome)
            result = {"kind": kind, "message": message}
    order = payment.order
    can_pay = _can_simulate(payment)
    return _page(
        request,
        {
            "payment": payment,
            "order": order,
            "destinations": order.destinations.order_by("sequence"),
            "total": money(payment.amount, payment.currency),
            "status_label": payment.get_status_display(),
            "can_pay": can_pay,
            "result": result,
            "state_message": None if can_pay or result else _state_message(payment),
        },
        status=status,
    )
