"""Forms of the console's orders pages. They take the API's field names (`order_ids`,
`driver_id`, `vehicle_id`, `reason`, `amount`, the drop-off and package fields) and the
API's bounds; the rules themselves stay in the services."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from rappi.api.filters import INT64_MAX

# The largest box a courier van carries (as the API's package input).
MAX_SIDE_CM = Decimal("400")
MAX_ORDERS_PER_RUN = 50  # as POST /api/v1/assignments/


class IdListField(forms.Field):
    """Relational ids sent as one parameter repeated (`order_ids=3&order_ids=5`)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": _("Choose orders by their numbers."),
        "too_many": _("At most %(max)s orders go on one run."),
    }

    def __init__(self, *, max_items: int = MAX_ORDERS_PER_RUN, **kwargs):
        self.max_items = max_items
        super().__init__(**kwargs)

    def to_python(self, value):
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        ids = []
        for item in values:
            text = str(item).strip()
            if not text.isascii() or not text.isdigit() or not 0 < int(text) <= INT64_MAX:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            if int(text) not in ids:
                ids.append(int(text))
        if len(ids) > self.max_items:
            raise forms.ValidationError(
                self.error_messages["too_many"], code="too_many", params={"max": self.max_items}
            )
        return ids


def _id_field(label) -> forms.IntegerField:
    return forms.IntegerField(label=label, min_value=1, max_value=INT64_MAX)


class AssignForm(forms.Form):
    """A new run: the ticked orders, a driver and a vehicle (POST /api/v1/assignments/)."""

    order_ids = IdListField(
        label=_("Orders"), error_messages={"required": _("Tick the pending orders to assign.")}
    )
    driver_id = _id_field(_("Driver"))
    vehicle_id = _id_field(_("Vehicle"))


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class AdjustPriceForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Adjustment (S/)"),
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("-99999999"),
        max_value=Decimal("99999999"),
        help_text=_("Negative for a discount; it replaces any earlier adjustment."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=300)


class ManualPaymentForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount received (S/)"),
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0"),
        help_text=_("It must equal the order's total."),
    )
    reference = forms.CharField(
        label=_("Reference"),
        max_length=200,
        required=False,
        help_text=_("Receipt or transfer number, if any."),
    )


def _side(label) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        max_digits=7,
        decimal_places=1,
        min_value=Decimal("0.1"),
        max_value=MAX_SIDE_CM,
        required=False,
    )


class DestinationForm(forms.Form):
    """One drop-off with its package, as POST /api/v1/orders/{id}/destinations/ takes it."""

    PACKAGE_FIELDS = ("weight_kg", "length_cm", "width_cm", "height_cm", "description")

    line = forms.CharField(label=_("Address"), max_length=200)
    district = forms.CharField(label=_("District"), max_length=80)
    lat = forms.DecimalField(
        label=_("Latitude"),
        max_digits=9,
        decimal_places=6,
        min_value=Decimal("-90"),
        max_value=Decimal("90"),
    )
    lng = forms.DecimalField(
        label=_("Longitude"),
        max_digits=9,
        decimal_places=6,
        min_value=Decimal("-180"),
        max_value=Decimal("180"),
    )
    recipient_name = forms.CharField(label=_("Recipient"), max_length=150)
    recipient_phone = forms.CharField(label=_("Recipient's phone"), max_length=30)
    weight_kg = forms.DecimalField(
        label=_("Weight (kg)"),
        max_digits=8,
        decimal_places=3,
        min_value=Decimal("0.001"),
        max_value=Decimal("10000"),
    )
    length_cm = _side(_("Length (cm)"))
    width_cm = _side(_("Width (cm)"))
    height_cm = _side(_("Height (cm)"))
    description = forms.CharField(label=_("Contents"), max_length=300, required=False)

    @classmethod
    def for_destination(cls, destination, **kwargs):
        """The form filled with a drop-off's current values."""
        initial = {name: getattr(destination, name) for name in cls.base_fields}
        return cls(initial=initial, **kwargs)

    def spec(self) -> dict:
        """The cleaned drop-off as the services take it (`package` nested)."""
        data = dict(self.cleaned_data)
        package = {name: data.pop(name) for name in self.PACKAGE_FIELDS}
        return {**data, "package": package}
