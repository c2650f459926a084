from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

ZERO = Decimal("0.00")
LAT = [MinValueValidator(Decimal("-90")), MaxValueValidator(Decimal("90"))]
LNG = [MinValueValidator(Decimal("-180")), MaxValueValidator(Decimal("180"))]
MONEY_RATE = [MinValueValidator(Decimal("0"))]
MULTIPLIER = [MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("20"))]
FRACTION = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("5"))]
TARGET_MINUTES = [MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]


def _coordinate(validators):
    return models.DecimalField(max_digits=9, decimal_places=6, validators=validators)


class Customer(models.Model):
    """Who ships. A customer may have a login (role `customer`), linked one-to-one."""

    rbac_resource = "customers"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customer_profile",
    )
    full_name = models.CharField(_("full name"), max_length=150)
    email = models.EmailField(
        _("email"), blank=True, help_text=_("With a login, always the login's email.")
    )
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    tax_id = models.CharField(_("tax id (RUC/DNI)"), max_length=11, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["full_name"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return self.full_name


class Address(models.Model):
    rbac_resource = "customers"

    customer = models.ForeignKey(Customer, related_name="addresses", on_delete=models.CASCADE)
    label = models.CharField(_("label"), max_length=60)
    line = models.CharField(_("address"), max_length=200)
    district = models.CharField(_("district"), max_length=80)
    lat = _coordinate(LAT)
    lng = _coordinate(LNG)
    is_primary = models.BooleanField(_("primary"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_primary", "label", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_primary=True), name="address_one_primary"
            )
        ]
        verbose_name = _("address")
        verbose_name_plural = _("addresses")

    def __str__(self) -> str:
        return f"{self.label}: {self.line}, {self.district}"


class Tariff(models.Model):
    """The single pricing configuration (row id 1). Fractions are 0.25 for 25 %."""

    rbac_resource = "tariff"
    SINGLETON_ID = 1

    currency = models.CharField(max_length=3, default="PEN")
    base_fare = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("5.00"), validators=MONEY_RATE
    )
    per_km = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("1.20"), validators=MONEY_RATE
    )
    per_min = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("0.15"), validators=MONEY_RATE
    )
    per_kg = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("0.50"), validators=MONEY_RATE
    )
    minimum_fare = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("8.00"), validators=MONEY_RATE
    )
    volumetric_factor = models.PositiveIntegerField(
        default=5000,
        validators=[MinValueValidator(1000), MaxValueValidator(20000)],
        help_text=_("cm³ per chargeable kg (l·w·h / factor)"),
    )
    multiplier_standard = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("1.00"), validators=MULTIPLIER
    )
    multiplier_express = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("1.50"), validators=MULTIPLIER
    )
    multiplier_urgent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("2.00"), validators=MULTIPLIER
    )
    night_start = models.TimeField(default=time(22, 0))
    night_end = models.TimeField(default=time(6, 0))
    night_surcharge = models.DecimalField(
        max_digits=5, decimal_places=4, default=Decimal("0.25"), validators=FRACTION
    )
    peak_windows = models.JSONField(
        default=list, blank=True, help_text=_('[{"start": "07:00", "end": "09:30"}, …] local time')
    )
    peak_surcharge = models.DecimalField(
        max_digits=5, decimal_places=4, default=Decimal("0.15"), validators=FRACTION
    )
    weekend_surcharge = models.DecimalField(
        max_digits=5, decimal_places=4, default=Decimal("0.10"), validators=FRACTION
    )
    # The promise per service level: minutes from the run's start to the drop-off's
    # delivery within which it counts as on time (the delivery-times and SLA reports).
    target_minutes_standard = models.PositiveIntegerField(
        _("on-time target, standard (min)"), default=240, validators=TARGET_MINUTES
    )
    target_minutes_express = models.PositiveIntegerField(
        _("on-time target, express (min)"), default=120, validators=TARGET_MINUTES
    )
    target_minutes_urgent = models.PositiveIntegerField(
        _("on-time target, urgent (min)"), default=60, validators=TARGET_MINUTES
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariff")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="tariff_singleton"),
            models.CheckConstraint(
                condition=Q(volumetric_factor__gte=1000), name="tariff_volumetric_factor_min"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Tariff"))

    def target_minutes(self) -> dict[str, int]:
        """The on-time target of each service level, in minutes."""
        return {level: getattr(self, f"target_minutes_{level}") for level in ServiceLevel.values}


class ServiceLevel(models.TextChoices):
    STANDARD = "standard", _("Standard")
    EXPRESS = "express", _("Express")
    URGENT = "urgent", _("Urgent")


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Pending payment")
    PENDING = "pending", _("Pending")
    ASSIGNED = "assigned", _("Assigned")
    IN_TRANSIT = "in_transit", _("In transit")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")


class DestinationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Failed")
    REFUNDED = "refunded", _("Refunded")


class Order(models.Model):
    rbac_resource = "orders"

    customer = models.ForeignKey(Customer, related_name="orders", on_delete=models.PROTECT)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, db_index=True)
    service_level = models.CharField(max_length=10, choices=ServiceLevel.choices)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    origin_line = models.CharField(max_length=200)
    origin_district = models.CharField(max_length=80)
    origin_lat = _coordinate(LAT)
    origin_lng = _coordinate(LNG)
    notes = models.CharField(max_length=1000, blank=True)
    legs_total = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    price_adjustment = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    adjustment_reason = models.CharField(max_length=300, blank=True)
    adjusted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    total = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    currency = models.CharField(max_length=3, default="PEN")
    cancel_reason = models.CharField(max_length=300, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # When it became delivered (its last drop-off done); cleared if its run is reopened.
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=OrderStatus.values), name="order_known_status"
            ),
            models.CheckConstraint(
                condition=Q(service_level__in=ServiceLevel.values),
                name="order_known_service_level",
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
        ]
        # Reports count deliveries per Lima day.
        indexes = [
            models.Index(
                fields=["delivered_at"],
                condition=Q(status="delivered"),
                name="order_delivered_report",
            )
        ]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_status_display()}"

    @property
    def is_editable(self) -> bool:
        return self.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.PENDING)


class Destination(models.Model):
    rbac_resource = "orders"

    order = models.ForeignKey(Order, related_name="destinations", on_delete=models.CASCADE)
    sequence = models.PositiveSmallIntegerField()
    line = models.CharField(max_length=200)
    district = models.CharField(max_length=80)
    lat = _coordinate(LAT)
    lng = _coordinate(LNG)
    recipient_name = models.CharField(max_length=150)
    recipient_phone = models.CharField(max_length=30)
    weight_kg = models.DecimalField(max_digits=8, decimal_places=3)
    length_cm = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    width_cm = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    height_cm = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    description = models.CharField(max_length=300, blank=True)
    distance_km = models.DecimalField(max_digits=8, decimal_places=3, default=ZERO)
    duration_min = models.DecimalField(max_digits=8, decimal_places=2, default=ZERO)
    chargeable_weight_kg = models.DecimalField(max_digits=9, decimal_places=3, default=ZERO)
    subtotal = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    status = models.CharField(
        max_length=10, choices=DestinationStatus.choices, default=DestinationStatus.PENDING
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    received_by = models.CharField(max_length=150, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["order_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "sequence"], name="destination_unique_sequence"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DestinationStatus.values), name="destination_known_status"
            ),
            models.CheckConstraint(
                condition=Q(weight_kg__gt=0), name="destination_positive_weight"
            ),
        ]
        # Delivery times and on-time figures read delivered drop-offs by delivery time.
        indexes = [
            models.Index(
                fields=["delivered_at"],
                condition=Q(status="delivered"),
                name="destination_delivered_report",
            )
        ]
        verbose_name = _("destination")
        verbose_name_plural = _("destinations")

    def __str__(self) -> str:
        return f"#{self.order_id}.{self.sequence} {self.line}"

    @property
    def volume_cm3(self) -> Decimal | None:
        return package_volume(self)


def package_volume(drop_off) -> Decimal | None:
    """A package's volume in cm³, or None unless all three sides are known; `drop_off`: a
    Destination or a row of its columns."""
    if drop_off.length_cm and drop_off.width_cm and drop_off.height_cm:
        return drop_off.length_cm * drop_off.width_cm * drop_off.height_cm
    return None


class Payment(models.Model):
    rbac_resource = "payments"

    order = models.ForeignKey(Order, related_name="payments", on_delete=models.PROTECT)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="PEN")
    status = models.CharField(
        max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    provider = models.CharField(max_length=20)
    external_id = models.CharField(max_length=100, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=500, blank=True)
    # One row per provider payment: the checkout row holds the one that settled it; every
    # other card attempt on the same checkout (declined, wrong amount, too late) gets a row
    # of its own pointing at the checkout.
    provider_payment_id = models.CharField(max_length=100, blank=True)
    checkout = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        # The checkout cannot go while its attempts stay (deleting both together is fine).
        on_delete=models.RESTRICT,
        related_name="attempts",
        help_text=_("The checkout this provider payment was made on, when it is not its own."),
    )
    reference = models.CharField(max_length=200, blank=True, help_text=_("manual payments"))
    needs_refund = models.BooleanField(
        default=False,
        help_text=_("Money was received but could not settle the order: refund it."),
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payment_known_status"
            ),
            # At most one open checkout and one settled payment per order, even under races.
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status="pending"),
                name="payment_one_pending_per_order",
            ),
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="paid"), name="payment_one_paid_per_order"
            ),
            # A webhook delivered twice finds its row instead of adding one.
            models.UniqueConstraint(
                fields=["provider", "provider_payment_id"],
                condition=~Q(provider_payment_id=""),
                name="payment_one_row_per_provider_payment",
            ),
        ]
        # Revenue is read by payment time.
        indexes = [
            models.Index(fields=["paid_at"], condition=Q(status="paid"), name="payment_paid_report")
        ]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

    def __str__(self) -> str:
        return f"{self.provider} {self.amount} {self.currency} ({self.status})"


class Invoice(models.Model):
    rbac_resource = "invoices"
    SERIES = "F001"

    order = models.OneToOneField(Order, related_name="invoice", on_delete=models.PROTECT)
    number = models.CharField(max_length=20, unique=True, blank=True)
    ruc = models.CharField(max_length=11)
    business_name = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="PEN")
    issued_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["issued_at"], name="invoice_issued_report")]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")

    def __str__(self) -> str:
        return self.number


class Rating(models.Model):
    rbac_resource = "ratings"

    order = models.OneToOneField(Order, related_name="rating", on_delete=models.CASCADE)
    # The run's driver; a plain id until the fleet app links ratings to drivers.
    driver_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="rating_score_1_to_5"
            )
        ]
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")

    def __str__(self) -> str:
        return f"#{self.order_id}: {self.score}/5"


class OrderEventType(models.TextChoices):
    """What an order's timeline records (docs/api.md, "Order timeline")."""

    CREATED = "created", _("Created")
    REPRICED = "repriced", _("Re-priced")
    PRICE_ADJUSTED = "price_adjusted", _("Price adjusted")
    PAID = "paid", _("Paid")
    PAYMENT_DECLINED = "payment_declined", _("Payment declined")
    ASSIGNED = "assigned", _("Assigned to a run")
    UNASSIGNED = "unassigned", _("Taken off its run")
    RUN_STARTED = "run_started", _("Run started")
    DELIVERED = "delivered", _("Drop-off delivered")
    FAILED = "failed", _("Drop-off failed")
    RUN_FINISHED = "run_finished", _("Run finished by staff")
    CANCELLED = "cancelled", _("Cancelled")
    REOPENED = "reopened", _("Reopened")
    RATED = "rated", _("Rated")
    STATUS_CHANGED = "status_changed", _("Status changed")


class ActorRole(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    DRIVER = "driver", _("Driver")
    STAFF = "staff", _("Staff")
    SYSTEM = "system", _("System")


class OrderEvent(models.Model):
    """One entry of an order's timeline, written in the transaction of the change it
    records (orders.timeline). `from_status`/`to_status` are the order's status before and
    after, on the events that changed it; a drop-off's own outcome is the event's type."""

    rbac_resource = "orders"

    # The timeline index below leads with the order: no index of its own.
    order = models.ForeignKey(
        Order, related_name="events", on_delete=models.CASCADE, db_index=False
    )
    # A removed drop-off keeps its events (its id and sequence stay in `data`).
    destination = models.ForeignKey(
        Destination, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    type = models.CharField(_("event"), max_length=20, choices=OrderEventType.choices)
    # Blank on events that left the order's status as it was (null in the API).
    from_status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # As the actor was then: a role changed later does not rewrite history.
    actor_role = models.CharField(_("by"), max_length=10, choices=ActorRole.choices)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["order", "at", "id"], name="order_event_timeline")]
        constraints = [
            models.CheckConstraint(
                condition=Q(type__in=OrderEventType.values), name="order_event_known_type"
            ),
            models.CheckConstraint(
                condition=Q(actor_role__in=ActorRole.values), name="order_event_known_actor_role"
            ),
        ]
        verbose_name = _("order event")
        verbose_name_plural = _("order events")

    def __str__(self) -> str:
        return f"#{self.order_id} {self.type}"
