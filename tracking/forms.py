"""The geofence pages' filters: fields of the API's geofence and event queries, shown as
forms. What a value means (and which are refused) is the API's query serializers' say."""

from django import forms
from django.utils.translation import gettext_lazy as _

from tracking.geofences import DELIVERY_ZONE, FORBIDDEN, ROUTE_CORRIDOR, VEHICLE_RESTRICTION

KIND_LABELS = {
    DELIVERY_ZONE: _("Delivery zone"),
    FORBIDDEN: _("Forbidden area"),
    VEHICLE_RESTRICTION: _("Vehicle restriction"),
    ROUTE_CORRIDOR: _("Route corridor"),
}
EVENT_LABELS = {"enter": _("Entered"), "exit": _("Left")}


class GeofenceFilterForm(forms.Form):
    kind = forms.CharField(
        label=_("Kind"),
        required=False,
        widget=forms.Select(choices=[("", _("Any")), *KIND_LABELS.items()]),
    )
    active = forms.CharField(
        label=_("State"),
        required=False,
        widget=forms.Select(
            choices=[("", _("Any")), ("true", _("Active")), ("false", _("Inactive"))]
        ),
    )


class GeofenceEventFilterForm(forms.Form):
    type = forms.CharField(
        label=_("Event"),
        required=False,
        widget=forms.Select(choices=[("", _("Any")), *EVENT_LABELS.items()]),
    )
    driver_id = forms.CharField(
        label=_("Driver id"), required=False, widget=forms.NumberInput(attrs={"min": 1})
    )
    assignment_id = forms.CharField(
        label=_("Run"), required=False, widget=forms.NumberInput(attrs={"min": 1})
    )
