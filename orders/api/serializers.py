from decimal import Context, Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders import timeline
from orders.models import (
    ActorRole,
    Address,
    Customer,
    Invoice,
    Order,
    OrderEventType,
    OrderStatus,
    Payment,
    Rating,
    ServiceLevel,
    Tariff,
    package_volume,
)
from rappi.api.schema import DECIMAL_STRING

COORD: dict[str, Any] = {"max_digits": 9, "decimal_places": 6, "coerce_to_string": False}
MONEY: dict[str, Any] = {"max_digits": 10, "decimal_places": 2}
# The largest box a courier van carries; it also keeps volumetric weights in range.
MAX_SIDE_CM = Decimal("400")


class LatLngMixin(serializers.Serializer):
    lat = serializers.DecimalField(min_value=Decimal("-90"), max_value=Decimal("90"), **COORD)
    lng = serializers.DecimalField(min_value=Decimal("-180"), max_value=Decimal("180"), **COORD)


# --- Customers --------------------------------------------------------------------------


class CustomerOutput(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True)  # may be blank: walk-in customers
    user_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "full_name",
            "email",
            "phone",
            "tax_id",
            "is_active",
            "user_id",
            "created_at",
        ]
        read_only_fields = fields


class CustomerInput(serializers.Serializer):
    full_name = serializers.CharField(max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    tax_id = serializers.RegexField(
        r"^(\d{8}|\d{11})?$", required=False, allow_blank=True, default=""
    )
    is_active = serializers.BooleanField(required=False)


class CustomerUpdateInput(CustomerInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty


class AddressSerializer(LatLngMixin, serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["id", "label", "line", "district", "lat", "lng", "is_primary"]
        read_only_fields = ["id"]


# --- Orders ---------------------------------------------------------------------------


class PlaceInput(LatLngMixin):
    line = serializers.CharField(max_length=200)
    district = serializers.CharField(max_length=80)


class PackageSerializer(serializers.Serializer):
    weight_kg = serializers.DecimalField(
        max_digits=8, decimal_places=3, min_value=Decimal("0.001"), max_value=Decimal("10000")
    )
    length_cm = serializers.DecimalField(
        max_digits=7,
        decimal_places=1,
        min_value=Decimal("0.1"),
        max_value=MAX_SIDE_CM,
        required=False,
        allow_null=True,
    )
    width_cm = serializers.DecimalField(
        max_digits=7,
        decimal_places=1,
        min_value=Decimal("0.1"),
        max_value=MAX_SIDE_CM,
        required=False,
        allow_null=True,
    )
    height_cm = serializers.DecimalField(
        max_digits=7,
        decimal_places=1,
        min_value=Decimal("0.1"),
        max_value=MAX_SIDE_CM,
        required=False,
        allow_null=True,
    )
    description = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default=""
    )


class DestinationInput(PlaceInput):
    recipient_name = serializers.CharField(max_length=150)
    recipient_phone = serializers.CharField(max_length=30)
    package = PackageSerializer()


class DestinationUpdateInput(DestinationInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
        self.fields["package"] = PackageSerializer(partial=True, required=False)


class OrderQuoteInput(serializers.Serializer):
    origin = PlaceInput()
    # many=True hands the lengths to its ListSerializer, which the stubs do not follow.
    destinations = DestinationInput(many=True, min_length=1, max_length=20)  # type: ignore[call-arg]
    service_level = serializers.ChoiceField(
        choices=ServiceLevel.choices, default=ServiceLevel.STANDARD
    )
    scheduled_for = serializers.DateTimeField(required=False, allow_null=True, default=None)


class OrderCreateInput(OrderQuoteInput):
    customer_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    notes = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class OrderUpdateInput(serializers.Serializer):
    notes = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    scheduled_for = serializers.DateTimeField(required=False, allow_null=True)
    service_level = serializers.ChoiceField(choices=ServiceLevel.choices, required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict) and "status" in data:
            # Rappi2 let a PATCH release unpaid orders; state changes have their own commands.
            raise serializers.ValidationError(
                {"status": [_("Status changes through its commands only.")]}
            )
        return super().to_internal_value(data)


class QuoteLegOutput(serializers.Serializer):
    destination_index = serializers.IntegerField()
    distance_km = serializers.DecimalField(max_digits=8, decimal_places=3)
    duration_min = serializers.DecimalField(max_digits=8, decimal_places=2)
    chargeable_weight_kg = serializers.DecimalField(max_digits=9, decimal_places=3)
    total = serializers.DecimalField(**MONEY)


class QuoteOutput(serializers.Serializer):
    legs = QuoteLegOutput(many=True)
    surcharge = serializers.DictField(
        child=serializers.DecimalField(max_digits=6, decimal_places=4)
    )
    total = serializers.DecimalField(**MONEY)
    currency = serializers.CharField()


def quote_output(quote) -> dict:
    return {
        "legs": [leg.__dict__ for leg in quote.legs],
        "surcharge": {
            "night": quote.surcharge.night,
            "peak": quote.surcharge.peak,
            "weekend": quote.surcharge.weekend,
        },
        "total": quote.legs_total,
        "currency": quote.currency,
    }


# --- Hand-written representations of the order reads ------------------------------------
# Every order answer goes through OrderOutput; DRF's generic walk over the declared fields
# (kept: they are the OpenAPI schema) cost more CPU than the queries behind it. These
# functions give the same JSON value for value — DecimalField quantized to its places and
# coerced to a string, FloatField as float(), DateTimeField ISO 8601 in the current time
# zone (UTC under /api/) with `Z`, None as None — as orders/tests/test_hot_paths.py proves
# against the generic serialization.

_ZERO = Decimal("0")


def _decimal_format(*, max_digits: int, decimal_places: int):
    """serializers.DecimalField(max_digits, decimal_places).to_representation."""
    exponent = Decimal(".1") ** decimal_places
    context = Context(prec=max_digits)

    def represent(value) -> str:
        if not isinstance(value, Decimal):
            value = Decimal(str(value).strip())
        return f"{value.quantize(exponent, context=context):f}"

    return represent


_km = _decimal_format(max_digits=8, decimal_places=3)
_minutes = _decimal_format(max_digits=8, decimal_places=2)
_kg = _decimal_format(max_digits=9, decimal_places=3)
_money = _decimal_format(**MONEY)
_generic_datetime = serializers.DateTimeField()


def _datetime(value, zone) -> str | None:
    """serializers.DateTimeField().to_representation, the time zone looked up once."""
    if not value:
        return None
    if isinstance(value, str) or value.tzinfo is None:
        return _generic_datetime.to_representation(value)  # never from the database
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _package(destination) -> dict:
    length, width, height = destination.length_cm, destination.width_cm, destination.height_cm
    return {
        "weight_kg": str(destination.weight_kg),
        "length_cm": str(length) if length is not None else None,
        "width_cm": str(width) if width is not None else None,
        "height_cm": str(height) if height is not None else None,
        "description": destination.description,
    }


def _destination_representation(destination, zone) -> dict:
    """DestinationOutput's fields, in their order (columns that are never null)."""
    return {
        "id": int(destination.id),
        "sequence": int(destination.sequence),
        "line": str(destination.line),
        "district": str(destination.district),
        "lat": float(destination.lat),
        "lng": float(destination.lng),
        "recipient_name": str(destination.recipient_name),
        "recipient_phone": str(destination.recipient_phone),
        "package": _package(destination),
        "distance_km": _km(destination.distance_km),
        "duration_min": _minutes(destination.duration_min),
        "chargeable_weight_kg": _kg(destination.chargeable_weight_kg),
        "subtotal": _money(destination.subtotal),
        "status": str(destination.status),
        "delivered_at": _datetime(destination.delivered_at, zone),
        "received_by": str(destination.received_by),
        "failure_reason": str(destination.failure_reason),
    }


def order_representation(order, *, customer_name: str, drop_offs, zone) -> dict:
    """OrderOutput's fields, in their order, the drop-offs walked once for them and the
    totals. `order` and `drop_offs`: models, or rows of the same columns (the list's)."""
    destinations = []
    weight = chargeable = volume = _ZERO
    for destination in drop_offs:
        destinations.append(_destination_representation(destination, zone))
        weight += destination.weight_kg
        chargeable += destination.chargeable_weight_kg
        volume += package_volume(destination) or _ZERO
    return {
        "id": int(order.id),
        "customer_id": order.customer_id,
        "customer_name": str(customer_name),
        "status": str(order.status),
        "service_level": str(order.service_level),
        "scheduled_for": _datetime(order.scheduled_for, zone),
        "origin": {
            "line": str(order.origin_line),
            "district": str(order.origin_district),
            "lat": float(order.origin_lat),
            "lng": float(order.origin_lng),
        },
        "destinations": destinations,
        "notes": str(order.notes),
        "legs_total": _money(order.legs_total),
        "price_adjustment": _money(order.price_adjustment),
        "adjustment_reason": str(order.adjustment_reason),
        "total": _money(order.total),
        "currency": str(order.currency),
        "total_weight_kg": str(weight),
        "total_chargeable_weight_kg": str(chargeable),
        "total_volume_cm3": str(volume),
        "cancel_reason": str(order.cancel_reason),
        "cancelled_at": _datetime(order.cancelled_at, zone),
        "created_at": _datetime(order.created_at, zone),
        "updated_at": _datetime(order.updated_at, zone),
    }


def order_page_output(rows, drop_offs_by_order: dict[int, list]) -> list[dict]:
    """A page of order rows (selectors.order_rows_for) as OrderOutput(many=True) answers
    it, each with its drop-offs from selectors.drop_off_rows_by_order."""
    zone = timezone.get_current_timezone()
    return [
        order_representation(
            row, customer_name=row.customer_name, drop_offs=drop_offs_by_order[row.id], zone=zone
        )
        for row in rows
    ]


class DestinationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    sequence = serializers.IntegerField()
    line = serializers.CharField()
    district = serializers.CharField()
    lat = serializers.FloatField()
    lng = serializers.FloatField()
    recipient_name = serializers.CharField()
    recipient_phone = serializers.CharField()
    package = serializers.SerializerMethodField()
    distance_km = serializers.DecimalField(max_digits=8, decimal_places=3)
    duration_min = serializers.DecimalField(max_digits=8, decimal_places=2)
    chargeable_weight_kg = serializers.DecimalField(max_digits=9, decimal_places=3)
    subtotal = serializers.DecimalField(**MONEY)
    status = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    received_by = serializers.CharField()
    failure_reason = serializers.CharField()

    # The annotation gives the OpenAPI schema its shape; the value is that shape's dict.
    def get_package(self, destination) -> PackageSerializer:
        return _package(destination)  # type: ignore[return-value]

    def to_representation(self, destination):
        return _destination_representation(destination, timezone.get_current_timezone())


class OriginOutput(serializers.Serializer):
    line = serializers.CharField(source="origin_line")
    district = serializers.CharField(source="origin_district")
    lat = serializers.FloatField(source="origin_lat")
    lng = serializers.FloatField(source="origin_lng")


class OrderOutput(serializers.ModelSerializer):
    origin = OriginOutput(source="*")
    destinations = DestinationOutput(many=True)
    customer_name = serializers.CharField(source="customer.full_name")
    total_weight_kg = serializers.SerializerMethodField()
    total_chargeable_weight_kg = serializers.SerializerMethodField()
    total_volume_cm3 = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "customer_id",
            "customer_name",
            "status",
            "service_level",
            "scheduled_for",
            "origin",
            "destinations",
            "notes",
            "legs_total",
            "price_adjustment",
            "adjustment_reason",
            "total",
            "currency",
            "total_weight_kg",
            "total_chargeable_weight_kg",
            "total_volume_cm3",
            "cancel_reason",
            "cancelled_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, order):
        return order_representation(
            order,
            customer_name=order.customer.full_name,
            drop_offs=order.destinations.all(),
            zone=timezone.get_current_timezone(),
        )

    # Sent as decimal strings, like every stored decimal.
    @extend_schema_field(DECIMAL_STRING)
    def get_total_weight_kg(self, order) -> str:
        return str(sum((d.weight_kg for d in order.destinations.all()), Decimal("0")))

    @extend_schema_field(DECIMAL_STRING)
    def get_total_chargeable_weight_kg(self, order) -> str:
        return str(sum((d.chargeable_weight_kg for d in order.destinations.all()), Decimal("0")))

    @extend_schema_field(DECIMAL_STRING)
    def get_total_volume_cm3(self, order) -> str:
        return str(
            sum((d.volume_cm3 or Decimal("0") for d in order.destinations.all()), Decimal("0"))
        )


class CancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class AdjustPriceInput(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("-99999999"),
        max_value=Decimal("99999999"),
    )
    reason = serializers.CharField(max_length=300)


class OrderEventOutput(serializers.Serializer):
    """One entry of an order's timeline, as the caller may see it (context `user`)."""

    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    destination_id = serializers.IntegerField(allow_null=True)
    type = serializers.ChoiceField(choices=OrderEventType.choices)
    from_status = serializers.SerializerMethodField(
        help_text="The order's status before, on events that changed it; else null."
    )
    to_status = serializers.SerializerMethodField(
        help_text="The order's status after, on events that changed it; else null."
    )
    actor_id = serializers.SerializerMethodField(
        help_text="Who acted: shown to staff, and to a customer only for its own actions."
    )
    actor_role = serializers.ChoiceField(choices=ActorRole.choices)
    data = serializers.SerializerMethodField(  # type: ignore[assignment]  # not Serializer.data
        help_text="Details by type (ids, amounts as decimal strings, reason…); what only "
        "staff may know is left out for customers."
    )
    description = serializers.SerializerMethodField(
        help_text="The event in words, in the request's language."
    )
    at = serializers.DateTimeField()

    def _for_staff(self) -> bool:
        return self.context["user"].is_staff_member

    @extend_schema_field(serializers.ChoiceField(choices=OrderStatus.choices, allow_null=True))
    def get_from_status(self, event) -> str | None:
        return event.from_status or None

    @extend_schema_field(serializers.ChoiceField(choices=OrderStatus.choices, allow_null=True))
    def get_to_status(self, event) -> str | None:
        return event.to_status or None

    def get_actor_id(self, event) -> int | None:
        return timeline.event_actor_id_for(event, user=self.context["user"])

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_data(self, event) -> dict:
        return timeline.event_data_for(event, for_staff=self._for_staff())

    def get_description(self, event) -> str:
        return timeline.describe(event, for_staff=self._for_staff())


# --- Payments ------------------------------------------------------------------------------


class PaymentOutput(serializers.ModelSerializer):
    # One row per provider payment: a further card attempt on a checkout names it here.
    checkout_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "order_id",
            "amount",
            "currency",
            "status",
            "provider",
            "external_id",
            "provider_payment_id",
            "checkout_id",
            "needs_refund",
            "checkout_url",
            "reference",
            "paid_at",
            "created_at",
        ]
        read_only_fields = fields


class CheckoutOutput(serializers.Serializer):
    payment = PaymentOutput()
    checkout_url = serializers.CharField()


class SimulateInput(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["approved", "rejected"])


class ManualPaymentInput(serializers.Serializer):
    amount = serializers.DecimalField(**MONEY, min_value=Decimal("0"))
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


# --- Invoices, ratings, tariff -----------------------------------------------------------------


class InvoiceOutput(serializers.ModelSerializer):
    class Meta:
        model = Invoice
        fields = [
            "id",
            "order_id",
            "number",
            "ruc",
            "business_name",
            "amount",
            "currency",
            "issued_at",
        ]
        read_only_fields = fields


class InvoiceInput(serializers.Serializer):
    order_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    ruc = serializers.CharField(max_length=11)
    business_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class InvoiceUpdateInput(serializers.Serializer):
    ruc = serializers.CharField(max_length=11, required=False)
    business_name = serializers.CharField(max_length=200, required=False)


class RucOutput(serializers.Serializer):
    ruc = serializers.CharField()
    valid = serializers.BooleanField()
    business_name = serializers.CharField()
    status = serializers.CharField()
    condition = serializers.CharField()
    address = serializers.CharField()
    verified = serializers.BooleanField()


class RatingOutput(serializers.ModelSerializer):
    class Meta:
        model = Rating
        fields = ["id", "order_id", "driver_id", "score", "comment", "created_at"]
        read_only_fields = fields


class RatingInput(serializers.Serializer):
    score = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


@extend_schema_field({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$", "example": "22:00"})
class LocalTimeField(serializers.TimeField):
    """A wall-clock time in America/Lima, `HH:MM`."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class TimeWindowSerializer(serializers.Serializer):
    start = LocalTimeField()
    end = LocalTimeField()


class TariffSerializer(serializers.ModelSerializer):
    night_start = LocalTimeField(required=False)
    night_end = LocalTimeField(required=False)
    peak_windows = TimeWindowSerializer(many=True, required=False)
    updated_by = serializers.CharField(
        source="updated_by.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Tariff
        fields = [
            "currency",
            "base_fare",
            "per_km",
            "per_min",
            "per_kg",
            "minimum_fare",
            "volumetric_factor",
            "multiplier_standard",
            "multiplier_express",
            "multiplier_urgent",
            "night_start",
            "night_end",
            "night_surcharge",
            "peak_windows",
            "peak_surcharge",
            "weekend_surcharge",
            "target_minutes_standard",
            "target_minutes_express",
            "target_minutes_urgent",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["updated_at", "updated_by"]
        extra_kwargs = {
            "base_fare": {"min_value": Decimal("0")},
            "per_km": {"min_value": Decimal("0")},
            "per_min": {"min_value": Decimal("0")},
            "per_kg": {"min_value": Decimal("0")},
            "minimum_fare": {"min_value": Decimal("0")},
            "volumetric_factor": {"min_value": 1000, "max_value": 20000},
            "multiplier_standard": {"min_value": Decimal("0.1"), "max_value": Decimal("20")},
            "multiplier_express": {"min_value": Decimal("0.1"), "max_value": Decimal("20")},
            "multiplier_urgent": {"min_value": Decimal("0.1"), "max_value": Decimal("20")},
            "night_surcharge": {"min_value": Decimal("0"), "max_value": Decimal("5")},
            "peak_surcharge": {"min_value": Decimal("0"), "max_value": Decimal("5")},
            "weekend_surcharge": {"min_value": Decimal("0"), "max_value": Decimal("5")},
        }

    def validate_peak_windows(self, windows):
        # A partial update makes nested fields optional; a window needs both ends.
        if any("start" not in w or "end" not in w for w in windows):
            raise serializers.ValidationError(_("Each window needs a start and an end."))
        return [
            {"start": w["start"].strftime("%H:%M"), "end": w["end"].strftime("%H:%M")}
            for w in windows
        ]
