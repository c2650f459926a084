"""Template helpers of the console: money as Peruvians read it, times in Lima, status
badges, and the query string of the current page with one parameter changed."""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from rappi.console import charts, maps

register = template.Library()

CURRENCY_SYMBOLS = {"PEN": "S/"}


@register.filter
def money(amount, currency: str = "PEN") -> str:
    """`S/ 18.50`: the symbol and two decimals, whatever the language."""
    if amount in (None, ""):
        return "—"
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        return str(amount)
    return f"{CURRENCY_SYMBOLS.get(currency or 'PEN', currency)} {value:,.2f}"


@register.filter
def lima(value, style: str = "short") -> str:
    """A time in America/Lima: `short` (04/12 14:05), `long` (with the date and zone),
    `time` (14:05)."""
    if not value:
        return "—"
    local = timezone.localtime(value, timezone.get_default_timezone())
    if style == "time":
        return date_format(local, "H:i")
    if style == "long":
        return f"{date_format(local, 'j M Y, H:i')} (Lima)"
    return date_format(local, "d/m H:i")


@register.inclusion_tag("console/_badge.html")
def badge(value: str, label: str = "") -> dict:
    """A coloured status badge (`badge-pending-payment` for `pending_payment`); `label` is
    the choice's translated name."""
    value = str(value or "")
    return {"css": value.replace("_", "-"), "label": label or value or "—"}


# The seeded roles by their names in the user's language; custom roles keep their own.
ROLE_LABELS = {
    "admin": _("administrator"),
    "dispatcher": _("dispatcher"),
    "driver": _("driver"),
    "customer": _("customer"),
}


@register.filter
def role_label(role) -> str:
    name = getattr(role, "name", role) or ""
    return str(ROLE_LABELS.get(name, name))


# --- Maps (rappi/console/maps.py builds what they draw; static/console/map.js draws it) --


@register.inclusion_tag("console/_map_assets.html")
def map_assets() -> dict:
    """Leaflet and our map module, for a page's `{% block head %}`."""
    return {}


@register.inclusion_tag("console/_map.html")
def console_map(
    map_id: str, label: str, size: str = "", pick: str = "", pick_submit: str = ""
) -> dict:
    """An empty map: its tiles and opening view. `pick="#lat,#lng"` makes a click fill
    those inputs; `pick_submit="#form"` then submits that form."""
    return {
        "map_id": map_id,
        "label": label,
        "size": size,
        "pick": pick,
        "pick_submit": pick_submit,
        "tiles": maps.tiles(),
    }


@register.inclusion_tag("console/_map_scene.html")
def map_scene(map_id: str, scene: dict) -> dict:
    """What the map `map_id` draws; inside a refreshed region it is redrawn in place."""
    return {"map_id": map_id, "scene": maps.scene_json(scene)}


# --- Charts (rappi/console/charts.py builds what they draw; static/console/charts.js draws
# it with the vendored Chart.js) --------------------------------------------------------


@register.inclusion_tag("console/_chart_assets.html")
def chart_assets() -> dict:
    """Chart.js, our charts module and its colours, for a page's `{% block head %}`."""
    return {}


@register.inclusion_tag("console/_chart.html")
def chart(chart_id: str, label: str, spec: dict | None, caption: str = "") -> dict:
    """A chart: a canvas labelled `label` for screen readers, drawn from `spec` (its data
    in an attribute, never an inline script); inside a refreshed region it is redrawn.
    Without a spec (or labels) it says there is nothing to chart."""
    spec = spec or {}
    return {
        "chart_id": chart_id,
        "label": label,
        "caption": caption,
        "kind": spec.get("type", "bar"),
        "horizontal": bool(spec.get("horizontal")),
        "bars": len(spec.get("labels") or ()),
        "empty": charts.is_empty(spec),
        "spec": charts.spec_json(spec),
    }
