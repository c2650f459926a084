"""The geofence pages' forms: the filters (fields of the API's geofence and event queries)
and the zone editor's form. What a value means (and which are refused) is the API's
serializers' say; these only show the fields."""

from django import forms
from django.utils.translation import gettext_lazy as _

from tracking.geofences import (
    DELIVERY_ZONE,
    FORBIDDEN,
    ROUTE_CORRIDOR,
    VEHICLE_RESTRICTION,
    ZONE_KINDS,
)

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


RADIUS_CHOICES = [(500, "500 m"), (1000, "1 km"), (2000, "2 km"), (5000, "5 km"), (10000, "10 km")]


class NearbyForm(forms.Form):
    """ "Drivers near here" on the fleet map: a click on the map fills the point."""

    lat = forms.CharField(
        label=_("Latitude"),
        required=False,
        widget=forms.NumberInput(attrs={"step": "any", "min": -90, "max": 90}),
    )
    lng = forms.CharField(
        label=_("Longitude"),
        required=False,
        widget=forms.NumberInput(attrs={"step": "any", "min": -180, "max": 180}),
    )
    radius_m = forms.CharField(
        label=_("Radius"), required=False, widget=forms.Select(choices=RADIUS_CHOICES)
    )
    window_min = forms.CharField(
        label=_("Fix no older than (min)"),
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": 1440}),
    )


class GeofenceForm(forms.Form):
    """A zone in the editor: what it shows and sends back. The fields take any text: the
    API's GeofenceInput / GeofenceUpdateInput read the post and decide what is refused
    (the polygon's rules are tracking.geofences.polygon_errors), so the page and the API
    refuse the same things. `geometry` is a GeoJSON Polygon, filled by drawing on the map
    or pasted."""

    name = forms.CharField(label=_("Name"), required=False, max_length=1000)
    kind = forms.CharField(
        label=_("Kind"),
        required=False,
        widget=forms.Select(choices=[(kind, KIND_LABELS[kind]) for kind in ZONE_KINDS]),
    )
    tolerance_m = forms.CharField(
        label=_("Border tolerance (m)"),
        required=False,
        help_text=_("Optional: a fix this close to the border changes nothing."),
        widget=forms.NumberInput(attrs={"min": 0, "max": 1000, "step": "any"}),
    )
    active = forms.BooleanField(label=_("Active"), required=False)
    geometry = forms.CharField(
        label=_("Outline (GeoJSON Polygon, [longitude, latitude])"),
        required=False,
        help_text=_(
            "Drawn on the map, or pasted: the first position repeated at the end, at least 4."
        ),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )
