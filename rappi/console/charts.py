"""What the console's charts draw, built on the server from the same figures its tables
show: a *spec* (plain data) that `{% chart %}` puts in a `data-chart` attribute and
static/console/charts.js draws with the vendored Chart.js. A series is
`{"label": str, "values": [number | decimal string | None]}`; decimals may stay strings
("18.50", as the API answers them) and None leaves a gap. Colours come from
static/console/charts.css (a series may name a `tone` there: ok, late, warn, ...); numbers
are written in the page's language, with `unit` ("S/" for money, "min", "%")."""

import datetime
import json
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.formats import date_format

GRANULARITY_FORMATS = {"day": "d/m", "week": "d/m", "month": "M Y"}


def _value(value):
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    raise TypeError(f"a chart value must be a number or a decimal string, not {value!r}")


def _label(label) -> str:
    if isinstance(label, (datetime.date, datetime.datetime)):
        return date_format(label, "SHORT_DATE_FORMAT")
    return str(label)


def series_of(label, values, *, tone: str = "") -> dict:
    """One series; `tone` picks its colour by meaning (`--chart-<tone>` in charts.css)."""
    built = {"label": str(label), "values": [_value(value) for value in values]}
    if tone:
        built["tone"] = tone
    return built


def _series(items, labels: list[str]) -> list[dict]:
    built = [series_of(item["label"], item["values"], tone=item.get("tone", "")) for item in items]
    for item in built:
        if len(item["values"]) != len(labels):
            raise ValueError(f"series {item['label']!r} needs one value per label")
    return built


def _tones(tones, labels: list[str]) -> list[str]:
    tones = [str(tone or "") for tone in tones]
    if len(tones) != len(labels):
        raise ValueError("tones need one tone per label")
    return tones


def bar(
    labels,
    series,
    *,
    stacked: bool = False,
    horizontal: bool = False,
    unit: str = "",
    line: dict | None = None,
    line_unit: str = "",
    tones=None,
) -> dict:
    """Bars per label, one colour per series (side by side, or `stacked`); `horizontal`
    for long labels (drivers, districts). `line` adds a series drawn as a line over the
    bars on its own axis, in `line_unit` (sales: orders as bars, the amount as a line).
    `tones` colours a single series' bars one by one by meaning (incidents by severity)."""
    labels = [_label(label) for label in labels]
    spec = {
        "type": "bar",
        "labels": labels,
        "series": _series(series, labels),
        "stacked": bool(stacked),
        "horizontal": bool(horizontal),
        "unit": str(unit),
    }
    if line is not None:
        spec["line"] = _series([line], labels)[0]
        spec["line_unit"] = str(line_unit)
    if tones:
        spec["tones"] = _tones(tones, labels)
    return spec


def line(labels, series, unit: str = "") -> dict:
    """Lines over the labels (usually buckets of time), one per series."""
    labels = [_label(label) for label in labels]
    return {
        "type": "line",
        "labels": labels,
        "series": _series(series, labels),
        "unit": str(unit),
    }


def doughnut(labels, values, *, unit: str = "", tones=None) -> dict:
    """Parts of a whole (payments by status, notifications by kind); `tones` may colour
    each part by meaning, else the palette's order."""
    labels = [_label(label) for label in labels]
    values = [_value(value) for value in values]
    if len(labels) != len(values):
        raise ValueError("a doughnut needs one value per label")
    spec = {"type": "doughnut", "labels": labels, "values": values, "unit": str(unit)}
    if tones:
        spec["tones"] = _tones(tones, labels)
    return spec


def bucket_labels(starts, granularity: str = "day") -> list[str]:
    """Bucket start dates as a chart's labels: 01/12 for days and weeks, Dec 2026 for
    months (in the page's language)."""
    fmt = GRANULARITY_FORMATS.get(granularity, "d/m")
    return [date_format(start, fmt) for start in starts]


def is_empty(spec: dict) -> bool:
    """Nothing to draw: no labels (the chart says so in a sentence instead)."""
    return not spec.get("labels")


def spec_json(spec: dict) -> str:
    """The spec as the JSON charts.js reads (the template escapes it into the attribute)."""
    return json.dumps(spec, cls=DjangoJSONEncoder, separators=(",", ":"))
