"""The console's chart specs (rappi/console/charts.py): the shapes static/console/charts.js
draws, with decimals kept as the API writes them; and `{% chart %}`, which puts a spec in
an attribute (the Content-Security-Policy allows no inline script)."""

import datetime
import html
import json
import re
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from rappi.console import charts

DAYS = [datetime.date(2026, 12, 1), datetime.date(2026, 12, 2)]


def test_bars_carry_their_series_and_options_and_decimals_as_strings():
    spec = charts.bar(
        ["Standard", "Express"],
        [
            {"label": "Average", "values": [Decimal("41.50"), 30]},
            {"label": "p95", "values": ["88.25", None], "tone": "late"},
        ],
        unit="min",
    )
    assert spec == {
        "type": "bar",
        "labels": ["Standard", "Express"],
        "series": [
            {"label": "Average", "values": ["41.50", 30]},
            {"label": "p95", "values": ["88.25", None], "tone": "late"},
        ],
        "stacked": False,
        "horizontal": False,
        "unit": "min",
    }


def test_stacked_and_horizontal_bars_and_a_line_on_its_own_axis():
    stacked = charts.bar(
        DAYS,
        [
            {"label": "On time", "values": [3, 4], "tone": "ok"},
            {"label": "Late", "values": [1, 0], "tone": "late"},
        ],
        stacked=True,
    )
    assert stacked["stacked"] is True
    assert stacked["horizontal"] is False
    assert [series["tone"] for series in stacked["series"]] == ["ok", "late"]

    drivers = charts.bar(
        ["Ana", "Luis"], [{"label": "Deliveries", "values": [12, 9]}], horizontal=True
    )
    assert drivers["horizontal"] is True
    assert drivers["stacked"] is False

    sales = charts.bar(
        DAYS,
        [{"label": "Orders", "values": [2, 5]}],
        line={"label": "Amount", "values": [Decimal("37.00"), Decimal("92.50")]},
        line_unit="S/",
    )
    assert sales["line"] == {"label": "Amount", "values": ["37.00", "92.50"]}
    assert sales["line_unit"] == "S/"
    assert sales["unit"] == ""


def test_bars_coloured_one_by_one_by_meaning():
    spec = charts.bar(
        ["low", "high"], [{"label": "Incidents", "values": [4, 1]}], tones=["low", "high"]
    )
    assert spec["tones"] == ["low", "high"]
    with pytest.raises(ValueError, match="one tone per label"):
        charts.bar(["low", "high"], [{"label": "Incidents", "values": [4, 1]}], tones=["low"])


def test_lines_and_doughnuts():
    spec = charts.line(DAYS, [{"label": "On time", "values": ["95.50", "100.00"]}], unit="%")
    assert spec["type"] == "line"
    assert spec["unit"] == "%"
    assert spec["series"] == [{"label": "On time", "values": ["95.50", "100.00"]}]
    assert "stacked" not in spec

    doughnut = charts.doughnut(["paid", "failed"], [7, 2])
    assert doughnut == {
        "type": "doughnut",
        "labels": ["paid", "failed"],
        "values": [7, 2],
        "unit": "",
    }
    assert charts.doughnut(["paid"], [7], tones=["ok"])["tones"] == ["ok"]
    with pytest.raises(ValueError, match="one value per label"):
        charts.doughnut(["paid", "failed"], [7])


def test_a_series_needs_one_number_per_label():
    with pytest.raises(ValueError, match="'Orders' needs one value per label"):
        charts.bar(DAYS, [{"label": "Orders", "values": [1]}])
    with pytest.raises(ValueError, match="'Orders' needs one value per label"):
        charts.line(DAYS, [{"label": "Orders", "values": [1, 2, 3]}])
    with pytest.raises(TypeError):
        charts.bar(["a"], [{"label": "Orders", "values": [object()]}])
    with pytest.raises(TypeError):
        charts.bar(["a"], [{"label": "Orders", "values": [True]}])


def test_dates_and_lazy_words_become_label_strings_in_the_language():
    with translation.override("es"):
        spec = charts.bar(DAYS, [{"label": translation.gettext_lazy("Orders"), "values": [1, 2]}])
        months = charts.bucket_labels([datetime.date(2026, 12, 1)], "month")
        days = charts.bucket_labels(DAYS, "day")
    assert spec["labels"] == ["01/12/2026", "02/12/2026"]
    assert isinstance(spec["series"][0]["label"], str)
    assert months == ["Dic 2026"]
    assert days == ["01/12", "02/12"]
    with translation.override("en"):
        assert charts.bucket_labels([datetime.date(2026, 12, 1)], "month") == ["Dec 2026"]


def test_a_spec_is_json_and_empty_without_labels():
    spec = charts.bar(DAYS, [{"label": "Amount", "values": [Decimal("18.50"), 0]}], unit="S/")
    assert json.loads(charts.spec_json(spec))["series"][0]["values"] == ["18.50", 0]
    assert not charts.is_empty(spec)
    assert charts.is_empty(charts.bar([], [{"label": "Amount", "values": []}]))
    assert charts.is_empty(charts.doughnut([], []))


def _render(spec, label="Sales <per day>"):
    template = Template("{% load console %}{% chart 'sales-chart' label spec %}")
    return template.render(Context({"label": label, "spec": spec}))


def test_the_chart_tag_puts_the_spec_in_an_attribute_never_in_a_script():
    spec = charts.bar(
        DAYS, [{"label": 'Orders "paid" <b>', "values": [1, 2]}], unit="S/", horizontal=True
    )
    rendered = _render(spec)
    assert "<script" not in rendered
    assert "style=" not in rendered
    assert re.search(
        r'<figure class="chart chart--bar chart--horizontal" id="sales-chart">', rendered
    )
    canvas = re.search(r'<canvas role="img" aria-label="([^"]*)" data-chart="([^"]*)">', rendered)
    assert canvas, rendered
    assert html.unescape(canvas.group(1)) == "Sales <per day>"
    assert json.loads(html.unescape(canvas.group(2))) == spec


def test_a_chart_without_labels_says_so_instead_of_drawing_empty_axes():
    with translation.override("en"):
        rendered = _render(charts.bar([], [{"label": "Orders", "values": []}]))
    assert "<canvas" not in rendered
    assert "Nothing to chart: every figure is zero." in rendered


def test_the_chart_assets_are_the_vendored_chartjs_and_our_module_deferred():
    rendered = Template("{% load console %}{% chart_assets %}").render(Context())
    scripts = re.findall(r'<script src="([^"]+)" defer></script>', rendered)
    assert scripts == ["/static/vendor/chart.js/chart.umd.js", "/static/console/charts.js"]
    assert '<link rel="stylesheet" href="/static/console/charts.css">' in rendered


def test_a_chart_without_a_spec_says_so_too():
    with translation.override("en"):
        rendered = Template("{% load console %}{% chart 'none' 'Nothing' None %}").render(Context())
    assert "<canvas" not in rendered
    assert "Nothing to chart" in rendered
    assert 'id="none"' in rendered
