"""What the console's maps draw, built on the server from the same selectors the pages
and the API use: a *scene* (zones, lines, stops, markers, circles) that a page puts in a
`data-scene` attribute, usually inside a region htmx refreshes, and static/console/map.js
draws over the tiles. Positions are GeoJSON's [lng, lat] for lines and polygons and
`lat`/`lng` for points; colours are chosen by `kind`/`status` in static/console/map.css.
The tiles come from MAP_TILE_URL; every layer here shows without them."""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _


def tiles() -> dict:
    """The tile layer and the view a map opens on before it has data to fit."""
    return {
        "url": settings.MAP_TILE_URL,
        "attribution": settings.MAP_TILE_ATTRIBUTION,
        "center": f"{settings.MAP_CENTER[0]},{settings.MAP_CENTER[1]}",
        "zoom": settings.MAP_ZOOM,
    }


def scene_json(scene: dict) -> str:
    """The scene as the JSON map.js reads (the template escapes it into the attribute)."""
    return json.dumps(scene, cls=DjangoJSONEncoder, separators=(",", ":"))


def zone(geofence, *, url: str | None = None, label: str | None = None, **extra) -> dict:
    """A geofence's outline, coloured by kind."""
    return {
        "geometry": geofence.geometry,
        "kind": geofence.kind,
        "active": bool(geofence.active),
        "label": label or geofence.name,
        "url": url,
        **extra,
    }


def line(geometry: dict | list | None, *, kind: str, label: str | None = None, url=None):
    """A GeoJSON LineString (or its coordinates) as a line; None when there is none."""
    if not geometry:
        return None
    coordinates = geometry["coordinates"] if isinstance(geometry, dict) else geometry
    if len(coordinates) < 2:
        return None
    return {"coordinates": coordinates, "kind": kind, "label": label, "url": url}


def stop(route_stop, *, label: str | None = None) -> dict:
    """A route stop, numbered by its sequence and coloured by its status."""
    return {
        "lat": float(route_stop.lat),
        "lng": float(route_stop.lng),
        "sequence": route_stop.sequence,
        "kind": route_stop.kind,
        "status": route_stop.status,
        "label": label,
    }


def marker(lat, lng, *, kind: str, label: str | None = None, **extra) -> dict | None:
    """A point: `text` is its caption, `heading` turns its arrow, `stale` greys it, `url`
    makes it a link. None without a position."""
    if lat is None or lng is None:
        return None
    # Decimal positions (addresses, drop-offs) would reach the page as strings.
    return {"lat": float(lat), "lng": float(lng), "kind": kind, "label": label, **extra}


def vehicle(fix: dict | None, *, plate: str, driver_name: str, url: str | None = None):
    """A driver's last fix (as `tracking.pings.fix_output` gives it): the plate, the
    heading's arrow, greyed with the fix's age once it is stale. None without a fix."""
    if fix is None:
        return None
    age = fix_age(fix["age_s"])
    return marker(
        fix["lat"],
        fix["lng"],
        kind="vehicle",
        text=f"{plate} · {age}" if fix["stale"] else plate,
        label=f"{driver_name} · {plate} · {age}",
        heading=fix["heading"],
        stale=bool(fix["stale"]),
        **({"url": url} if url else {}),
    )


def fix_age(age_s: float | None) -> str:
    """How old a fix is, in words a dispatcher reads at a glance."""
    if age_s is None:
        return _("no fix yet")
    age_s = max(int(age_s), 0)
    if age_s < 60:
        return _("%(count)d s ago") % {"count": age_s}
    if age_s < 3600:
        return _("%(count)d min ago") % {"count": age_s // 60}
    return _("%(count)d h ago") % {"count": age_s // 3600}


def scene(**layers) -> dict:
    """A scene with its empty layers left out and missing items (None) dropped."""
    built = {}
    for name, items in layers.items():
        if isinstance(items, list):
            items = [item for item in items if item is not None]
            if items:
                built[name] = items
        elif items is not None:
            built[name] = items
    return built
