"""Server-rendered pages of the orders app: the simulated payment provider's checkout,
and the console's customer and order pages (the orders board with its assign panel, the
order page and its commands). Console pages read and write through the same selectors
and services as the API; runs, drivers and vehicles through fleet's.

A real provider's checkout is a page the buyer's browser opens from `checkout_url`, without
our API's bearer token; the simulated one is the same: the URL carries a short-lived signed
token for one payment, and the buttons go through `payment_simulate`, as
`POST /api/v1/payments/{id}/simulate` does."""

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fleet import selectors as fleet_selectors
from fleet import services as fleet_services
from fleet.models import Assignment, VehicleStatus
from orders import selectors, services, timeline
from orders.api.views import OrderViewSet
from orders.filters import CustomerFilter, OrderFilter
from orders.forms import (
    AdjustPriceForm,
    AssignForm,
    CancelForm,
    DestinationForm,
    IdListField,
    ManualPaymentForm,
)
from orders.models import Destination, Order, OrderStatus, Payment, PaymentStatus, ServiceLevel
from orders.payment_providers import SimulatedProvider, simulated_checkout_payment_id
from orders.services import TERMINAL
from rappi.api.permissions import READ, WRITE
from rappi.console import maps
from rappi.console.access import console_page
from rappi.console.actions import form_errors, perform
from rappi.console.lists import filtered, page_of, rows
from rappi.errors import DomainError, NotFoundError
from tracking import selectors as tracking_selectors

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


# --- Console ------------------------------------------------------------------------------


@require_GET
@console_page("customers")
def customer_list(request):
    filters = filtered(CustomerFilter, request, selectors.customer_list_for(user=request.user))
    page = page_of(request, rows(filters).order_by("full_name", "pk"))
    context = {
        "filters": filters,
        "page_obj": page,
        "sees_reports": request.user.has_permission("reports", READ),
    }
    return render(request, "orders/customer_list.html", context)


# The API's ordering whitelist (GET /api/v1/orders/?ordering=), as clickable headers.
ORDERING_FIELDS = tuple(OrderViewSet.ordering_fields)
DEFAULT_ORDERING = ("-created_at",)
SORTABLE_COLUMNS = {
    "id": "#",
    "status": gettext_lazy("Status"),
    "scheduled_for": gettext_lazy("Scheduled"),
    "total": gettext_lazy("Total"),
    "created_at": gettext_lazy("Created"),
}
SUGGESTIONS_SHOWN = 10
DATE_FILTERS = {
    "scheduled_after": gettext_lazy("Scheduled from"),
    "scheduled_before": gettext_lazy("Scheduled before"),
    "created_after": gettext_lazy("Created from"),
    "created_before": gettext_lazy("Created before"),
}


def _board_form(form) -> None:
    """The API's order filters as a person fills them in: statuses as checkboxes, the
    time ranges as Lima date-time pickers, the customer (from links) kept but hidden."""
    fields = form.fields
    fields["status"].widget = forms.CheckboxSelectMultiple(choices=fields["status"].choices)
    fields["status"].label = gettext_lazy("Status")
    fields["service_level"].label = gettext_lazy("Service")
    fields["service_level"].empty_label = gettext_lazy("Any")
    fields["service_level"].choices = ServiceLevel.choices  # the widget reads the new label
    fields["district"].label = gettext_lazy("District")
    fields["search"].label = gettext_lazy("Search")
    fields["search"].widget.attrs.update(
        {"placeholder": gettext_lazy("#12, customer, address, recipient"), "type": "search"}
    )
    for name, label in DATE_FILTERS.items():
        fields[name].label = label
    for name in ("customer_id", "customer"):
        fields[name].widget = forms.HiddenInput()


def _ordering(request) -> tuple[tuple[str, ...], str | None]:
    """The board's `?ordering=field,-field` against the API's whitelist: (terms, error)."""
    value = request.GET.get("ordering", "").strip()
    if not value:
        return DEFAULT_ORDERING, None
    terms = tuple(term.strip() for term in value.split(",") if term.strip())
    unknown = [term for term in terms if term.lstrip("-") not in ORDERING_FIELDS]
    if unknown or not terms:
        return DEFAULT_ORDERING, _(
            "Unknown ordering field(s): %(fields)s. Allowed: %(allowed)s."
        ) % {
            "fields": ", ".join(unknown) or "''",
            "allowed": ", ".join(ORDERING_FIELDS),
        }
    return terms, None


def _sort_columns(request, ordering: tuple[str, ...]) -> dict[str, dict]:
    """Each sortable column's header link: by the column (ascending, or descending when it
    already sorts ascending), back to the first page; `sort` is its aria-sort value."""
    first = ordering[0] if ordering else ""
    columns = {}
    for field, label in SORTABLE_COLUMNS.items():
        current = "ascending" if first == field else "descending" if first == f"-{field}" else ""
        query = request.GET.copy()
        query.pop("page", None)
        query["ordering"] = f"-{field}" if current == "ascending" else field
        columns[field] = {"label": label, "url": f"?{query.urlencode()}", "sort": current}
    return columns


def _selected_ids(request) -> list[int]:
    """The ticked orders the board was asked about (`order_ids`), or none if malformed."""
    field = IdListField(required=False)
    try:
        return field.clean(request.GET.getlist("order_ids"))
    except forms.ValidationError:
        return []


def _without(request, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return f"{request.path}?{query.urlencode()}" if query else request.path


@require_GET
@console_page("orders")
def order_board(request):
    """The orders board: filters, search, ordering, paging, refreshed in place every 10 s;
    pending orders can be ticked and put in a run from the assign panel, which shows when
    the board is asked with `order_ids` ("Suggest drivers")."""
    filters = filtered(OrderFilter, request, selectors.order_list_for(user=request.user))
    _board_form(filters.form)
    ordering, ordering_error = _ordering(request)
    queryset = rows(filters) if ordering_error is None else filters.queryset.none()
    page = page_of(request, queryset.order_by(*ordering, "-pk"))
    selected = _selected_ids(request)
    can_assign = request.user.has_permission("assignments", WRITE)
    context = {
        "filters": filters,
        "page_obj": page,
        "ordering_error": ordering_error,
        "columns": _sort_columns(request, ordering),
        "selected": set(selected),
        "can_assign": can_assign,
        # The refresh leaves the ticks to the page (console.js keeps them).
        "refresh_url": _without(request, "order_ids"),
    }
    if request.htmx:
        return render(request, "orders/_order_rows.html", context)
    context["board_query"] = _without(request, "order_ids", "page").partition("?")[2]
    # "Suggest drivers" keeps the board's filters and ordering.
    context["keep_params"] = [
        (key, value)
        for key, values in request.GET.lists()
        if key not in ("order_ids", "page")
        for value in values
    ]
    if selected and can_assign:
        context["panel"] = _assign_panel(request, selected)
    return render(request, "orders/order_board.html", context)


def _assign_panel(request, ids: list[int]) -> dict:
    """The ticked orders, the drivers ranked for them together (fleet's suggestions: the
    same rules and messages as run creation) and every usable vehicle to choose from."""
    user = request.user
    chosen = list(selectors.order_list_for(user=user).filter(pk__in=ids).order_by("pk"))
    found = {order.pk for order in chosen}
    pending = [order for order in chosen if order.status == OrderStatus.PENDING]
    panel = {
        "orders": pending,
        "not_pending": [order for order in chosen if order.status != OrderStatus.PENDING],
        "missing": [pk for pk in ids if pk not in found],
        "suggestions": None,
        "vehicles": [],
    }
    if not pending:
        return panel
    suggestions = fleet_selectors.run_suggestions(orders=pending, limit=SUGGESTIONS_SHOWN)
    live = dict(
        fleet_selectors.assignment_list_for(user=user)
        .prefetch_related(None)
        .filter(status__in=Assignment.ACTIVE)
        .values_list("vehicle_id", "pk")
    )
    vehicles = fleet_selectors.vehicle_list_for(user=user).filter(
        is_active=True, status=VehicleStatus.OPERATIONAL
    )
    panel["vehicles"] = [
        {"vehicle": vehicle, "run_id": live.get(vehicle.pk)}
        for vehicle in vehicles.order_by("plate")
    ]
    for entry in suggestions["results"]:
        codes = {reason["code"] for reason in entry["reasons"]}
        # A busy driver cannot be given a run whatever the vehicle; any other refusal is
        # about the vehicle offered, and another one may be chosen.
        entry["assignable"] = "driver_unavailable" not in codes
    panel["suggestions"] = suggestions
    return panel


def _board_with_ticks(back: str, order_ids: list[int]) -> str:
    """The board as it was (its query string, `back`), with these orders ticked."""
    query = QueryDict(back, mutable=True)
    query.pop("order_ids", None)
    if order_ids:
        query.setlist("order_ids", [str(pk) for pk in order_ids])
    url = reverse("console:orders")
    return f"{url}?{query.urlencode()}" if query else url


def _run_url(run_id: int) -> str:
    return reverse("console:run", args=[run_id])


@require_POST
@console_page("assignments", WRITE)
def order_assign(request):
    """A new run from the assign panel, through `assignment_create` (its locks and rules).
    Done: the run's page. Refused: back to the board, the orders still ticked, with the
    reason in the words the API uses."""
    form = AssignForm(request.POST)
    ticked = _posted_ids(request)
    back = _board_with_ticks(request.POST.get("back", ""), ticked)
    if not form.is_valid():
        form_errors(request, form)
        return redirect(back)
    data = form.cleaned_data
    orders = list(selectors.order_list_for(user=request.user).filter(pk__in=data["order_ids"]))
    missing = sorted(set(data["order_ids"]) - {order.pk for order in orders})
    driver = fleet_selectors.driver_list_for(user=request.user).filter(pk=data["driver_id"]).first()
    vehicle = (
        fleet_selectors.vehicle_list_for(user=request.user).filter(pk=data["vehicle_id"]).first()
    )
    if missing:
        messages.error(
            request,
            _("No order %(ids)s: it may have been deleted.")
            % {"ids": ", ".join(f"#{pk}" for pk in missing)},
        )
    if driver is None:
        messages.error(request, _("No such driver: choose one from the suggestions."))
    if vehicle is None:
        messages.error(request, _("No such vehicle: choose one from the list."))
    if missing or driver is None or vehicle is None:
        return redirect(back)
    created = []

    def create():
        created.append(
            fleet_services.assignment_create(
                orders=orders, driver=driver, vehicle=vehicle, by=request.user
            )
        )

    if not perform(request, create):
        return redirect(back)
    run = created[0]
    messages.success(
        request,
        ngettext(
            "Run #%(run)s created: %(count)d order for %(driver)s in %(plate)s.",
            "Run #%(run)s created: %(count)d orders for %(driver)s in %(plate)s.",
            len(orders),
        )
        % {
            "run": run.pk,
            "count": len(orders),
            "driver": driver.user.full_name,
            "plate": vehicle.plate,
        },
    )
    return redirect(_run_url(run.pk))


def _posted_ids(request) -> list[int]:
    try:
        return IdListField(required=False).clean(request.POST.getlist("order_ids"))
    except forms.ValidationError:
        return []


# --- The order page ------------------------------------------------------------------------


def _order_for(request, pk) -> Order:
    """The order if the user may see it; a 404 page otherwise."""
    try:
        return selectors.order_get_for(user=request.user, pk=pk)
    except NotFoundError:
        raise Http404 from None


def _allowed_actions(user, order: Order, *, paid: bool) -> dict[str, bool]:
    """The commands the order's state allows and the user's role may run (the services
    check again: this only keeps impossible buttons off the page)."""
    can_write = user.has_permission("orders", WRITE)
    editable = order.is_editable and not paid
    return {
        "cancel": can_write and order.status not in TERMINAL,
        "adjust_price": can_write and editable,
        "manual_payment": can_write and order.status != OrderStatus.CANCELLED and not paid,
        "edit_destinations": can_write and editable,
    }


EVIDENCE_KIND_LABELS = {
    "photo": gettext_lazy("photo"),
    "signature": gettext_lazy("signature"),
    "document": gettext_lazy("document"),
}


def _plain(value: Decimal) -> str:
    """A measure without its trailing zeros (`2.500` → `2.5`, `40.0` → `40`)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _package(destination: Destination) -> str:
    """`2.5 kg · 60 x 40 x 40 cm · Caja`: the parts the package has."""
    parts = [f"{_plain(destination.weight_kg)} kg"]
    length, width, height = destination.length_cm, destination.width_cm, destination.height_cm
    if length and width and height:
        parts.append(f"{_plain(length)} x {_plain(width)} x {_plain(height)} cm")
    if destination.description:
        parts.append(destination.description)
    return " · ".join(parts)


def _proofs_by_destination(user, order: Order, records=None) -> dict[int, list[dict]]:
    """The drop-offs' proofs (photos, signatures) as thumbnails, for staff who may open
    them; `records` when the order's tracking has read them already."""
    if not user.has_permission("assignments", READ):
        return {}  # the file view would refuse them: no broken thumbnails
    if records is None:
        records = fleet_selectors.proofs_for_order(order=order)
    proofs: dict[int, list[dict]] = {}
    for record in records:
        for stored in record.files:
            proofs.setdefault(record.destination_id, []).append(
                {
                    "url": reverse("console:file", args=[str(stored.file_id)]),
                    "kind": EVIDENCE_KIND_LABELS.get(record.kind, record.kind),
                    "filename": stored.filename,
                    "is_image": stored.content_type.startswith("image/"),
                    "at": record.created_at,
                }
            )
    return proofs


# --- The order's map -------------------------------------------------------------------------


def _tracking(user, order: Order) -> dict | None:
    """The order's run, route, own stops and the driver's last fix while it is on its way,
    read as `GET /api/v1/tracking/orders/{id}` reads them, for staff who may read tracking."""
    if not user.has_permission("tracking", READ):
        return None
    try:
        return tracking_selectors.order_tracking_for(user=user, order_id=order.pk)
    except NotFoundError:
        raise Http404 from None


def _origin_marker(order: Order) -> dict | None:
    return maps.marker(
        order.origin_lat,
        order.origin_lng,
        kind="origin",
        label=_("Pickup: %(address)s")
        % {"address": f"{order.origin_line}, {order.origin_district}"},
    )


def _drop_label(destination: Destination) -> str:
    return _("Drop-off %(sequence)s: %(address)s — %(status)s") % {
        "sequence": destination.sequence,
        "address": f"{destination.line}, {destination.district}",
        "status": destination.get_status_display(),
    }


def _drop_marker(destination: Destination) -> dict | None:
    return maps.marker(
        destination.lat,
        destination.lng,
        kind="dropoff",
        text=str(destination.sequence),
        label=_drop_label(destination),
    )


def _order_scene(user, order: Order, destinations: list, tracking: dict | None) -> dict:
    """Pickup, drop-offs (numbered as on the page; coloured by their run stop's status once
    they are in a run), the run's route and the driver's last fix while on the way."""
    stops_by_destination = {}
    route_line = driver = None
    if tracking is not None and tracking["assignment"] is not None:
        run = tracking["assignment"]
        stops_by_destination = {
            stop.destination_id: stop for stop in tracking["stops"] if stop.destination_id
        }
        if tracking["route"] is not None:
            route_line = maps.line(
                tracking["route"]["geometry"],
                kind="route",
                label=_("Route of run #%(id)s") % {"id": run.pk},
                url=_run_url(run.pk) if user.has_permission("assignments", READ) else None,
            )
        driver = maps.vehicle(
            tracking["last_fix"], plate=run.vehicle.plate, driver_name=run.driver.user.full_name
        )
    stops, markers = [], [_origin_marker(order)]
    for destination in destinations:
        stop = stops_by_destination.get(destination.pk)
        if stop is None:
            markers.append(_drop_marker(destination))
            continue
        item = maps.stop(stop, label=_drop_label(destination))
        item["sequence"] = destination.sequence  # numbered as the drop-offs below
        stops.append(item)
    markers.append(driver)
    return maps.scene(lines=[route_line], stops=stops, markers=markers)


def _map_context(user, order: Order, destinations: list, tracking: dict | None) -> dict:
    """What the map's refreshed region shows; it refreshes while the order is on its way."""
    run = tracking["assignment"] if tracking else None
    fix = tracking["last_fix"] if tracking else None
    return {
        "order": order,
        "scene": _order_scene(user, order, destinations, tracking),
        "live": tracking is not None and order.status == OrderStatus.IN_TRANSIT,
        "run": run,
        "fix": fix,
        "fix_age": maps.fix_age(fix.get("age_s")) if fix else None,
    }


def _pick_scene(order: Order, destinations: list, *, fit: bool) -> dict:
    """What a map placing a drop-off shows around the pin: the pickup and the drop-offs."""
    return maps.scene(
        markers=[_origin_marker(order), *(_drop_marker(d) for d in destinations)],
        fit=None if fit else False,
    )


# --- The order page ------------------------------------------------------------------------


def _order_page(request, order: Order, *, bound: dict | None = None, status: int = 200):
    """The order page; `bound` holds a form that did not validate (shown with its errors)
    under its action's name (`cancel`, `adjust_price`, `payment`, `add_destination`, or
    `destination-<id>`)."""
    user = request.user
    bound = bound or {}
    payments = list(order.payments.order_by("created_at", "pk"))
    paid = any(payment.status == PaymentStatus.PAID for payment in payments)
    # Each destination carries what its part of the page shows (set below, for the template).
    destinations: list[Any] = list(order.destinations.all())
    tracking = _tracking(user, order)
    proofs = _proofs_by_destination(user, order, tracking["proofs"] if tracking else None)
    actions = _allowed_actions(user, order, paid=paid)
    for destination in destinations:
        destination.proofs = proofs.get(destination.pk, [])
        destination.package = _package(destination)
        key = f"destination-{destination.pk}"
        destination.form = bound.get(key) or DestinationForm.for_destination(
            destination, auto_id=f"d{destination.pk}_%s"
        )
        destination.form_open = key in bound
        destination.map_id = f"drop-map-{destination.pk}"
        destination.pick = f"#d{destination.pk}_lat,#d{destination.pk}_lng"
    runs = []
    if user.has_permission("assignments", READ):
        runs = [
            {"run": run, "url": _run_url(run.pk)}
            for run in fleet_selectors.assignment_list_for(user=user)
            .prefetch_related(None)
            .select_related("driver__user", "vehicle")
            .filter(orders=order)
            .order_by("created_at", "pk")
        ]
    events = [
        {"event": event, "text": timeline.describe(event, for_staff=True)}
        for event in selectors.order_event_list_for(user=user, order=order)
    ]
    context = {
        "order": order,
        "destinations": destinations,
        "payments": payments if user.has_permission("payments", READ) else None,
        "invoice": (
            selectors.invoice_list_for(user=user).filter(order=order).first()
            if user.has_permission("invoices", READ)
            else None
        ),
        "can_read_invoices": user.has_permission("invoices", READ),
        "runs": runs,
        "can_read_runs": user.has_permission("assignments", READ),
        "events": events,
        "actions": actions,
        "can_write": user.has_permission("orders", WRITE),
        "bound": set(bound),
        "cancel_form": bound.get("cancel") or CancelForm(auto_id="cancel_%s"),
        "adjust_form": bound.get("adjust_price")
        or AdjustPriceForm(
            auto_id="adjust_%s",
            initial={"amount": order.price_adjustment, "reason": order.adjustment_reason},
        ),
        "payment_form": bound.get("payment")
        or ManualPaymentForm(auto_id="payment_%s", initial={"amount": order.total}),
        "add_form": bound.get("add_destination") or DestinationForm(auto_id="add_%s"),
        **_map_context(user, order, destinations, tracking),
    }
    if actions["edit_destinations"]:
        context["edit_scene"] = _pick_scene(order, destinations, fit=False)
        context["add_scene"] = _pick_scene(order, destinations, fit=True)
    return render(request, "orders/order_page.html", context, status=status)


@require_GET
@console_page("orders")
def order_page(request, pk: int):
    """The order page. Its map's region (`?part=map`) refreshes every 10 s while the order
    is on its way, moving the driver's marker without touching the rest of the page."""
    order = _order_for(request, pk)
    if request.htmx and request.GET.get("part") == "map":
        destinations = list(order.destinations.all())
        context = _map_context(request.user, order, destinations, _tracking(request.user, order))
        return render(request, "orders/_order_map.html", context)
    return _order_page(request, order)


def _order_action(request, pk: int, *, name: str, form_class, command, success: str):
    """Run one of the order page's commands: the form's errors on the page; then the
    service through `perform` (a refusal is its message) and back to the page."""
    order = _order_for(request, pk)
    form = form_class(request.POST, auto_id=f"{name}_%s")
    if not form.is_valid():
        messages.error(request, _("Nothing was changed: check the fields marked below."))
        return _order_page(request, order, bound={name: form}, status=400)
    perform(request, lambda: command(order, form), success=success)
    return redirect("console:order", pk=order.pk)


@require_POST
@console_page("orders", WRITE)
def order_cancel(request, pk: int):
    return _order_action(
        request,
        pk,
        name="cancel",
        form_class=CancelForm,
        command=lambda order, form: services.order_cancel(
            order=order, reason=form.cleaned_data["reason"], by=request.user
        ),
        success=_("Order #%(id)s cancelled.") % {"id": pk},
    )


@require_POST
@console_page("orders", WRITE)
def order_adjust_price(request, pk: int):
    return _order_action(
        request,
        pk,
        name="adjust_price",
        form_class=AdjustPriceForm,
        command=lambda order, form: services.order_adjust_price(
            order=order, by=request.user, **form.cleaned_data
        ),
        success=_("Price adjusted."),
    )


@require_POST
@console_page("orders", WRITE)
def order_payment(request, pk: int):
    return _order_action(
        request,
        pk,
        name="payment",
        form_class=ManualPaymentForm,
        command=lambda order, form: services.payment_record_manual(
            order=order, by=request.user, **form.cleaned_data
        ),
        success=_("Payment recorded."),
    )


@require_POST
@console_page("orders", WRITE)
def destination_add(request, pk: int):
    return _order_action(
        request,
        pk,
        name="add_destination",
        form_class=DestinationForm,
        command=lambda order, form: services.destination_add(
            order=order, spec=form.spec(), by=request.user
        ),
        success=_("Drop-off added; the order was priced again."),
    )


def _destination_of(order: Order, destination_id: int) -> Destination:
    destination = order.destinations.filter(pk=destination_id).first()
    if destination is None:
        raise Http404
    return destination


@require_POST
@console_page("orders", WRITE)
def destination_update(request, pk: int, destination_id: int):
    order = _order_for(request, pk)
    destination = _destination_of(order, destination_id)
    name = f"destination-{destination.pk}"
    form = DestinationForm(request.POST, auto_id=f"d{destination.pk}_%s")
    if not form.is_valid():
        messages.error(request, _("Nothing was changed: check the fields marked below."))
        return _order_page(request, order, bound={name: form}, status=400)
    perform(
        request,
        lambda: services.destination_update(
            order=order, destination=destination, spec=form.spec(), by=request.user
        ),
        success=_("Drop-off %(sequence)s saved; the order was priced again.")
        % {"sequence": destination.sequence},
    )
    return redirect("console:order", pk=order.pk)


@require_POST
@console_page("orders", WRITE)
def destination_remove(request, pk: int, destination_id: int):
    order = _order_for(request, pk)
    destination = _destination_of(order, destination_id)
    perform(
        request,
        lambda: services.destination_remove(order=order, destination=destination, by=request.user),
        success=_("Drop-off %(sequence)s removed; the order was priced again.")
        % {"sequence": destination.sequence},
    )
    return redirect("console:order", pk=order.pk)
