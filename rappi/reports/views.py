"""The console's reports (`/console/reports/`): every report of the registry over one
period, each as a chart, its table and a CSV download; and one customer's or one run's
summary. The figures are the API's: the same `registry.compute`, the same tables, the
same CSV writer; only the session (not a token) opens them."""

from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from rest_framework.exceptions import ValidationError

from rappi.console.access import console_page
from rappi.reports import registry
from rappi.reports.periods import DAY, GRANULARITIES, Period
from rappi.reports.presenters import GRANULARITY_LABELS, PRESENTERS, column_label, section_label
from rappi.reports.tables import cell, csv_response

registry.load_all()

PERIOD_FIELDS = ("since", "until", "granularity")
# The page's order: the period's money, then delivery, then the rest; last the snapshots
# (the last hours, now), which the period does not move.
ORDER = (
    "sales",
    "top-customers",
    "payments",
    "geography",
    "delivery-times",
    "sla",
    "drivers",
    "incidents",
    "evidence",
    "notifications",
    "overview",
    "operations",
)
FIELD_LABELS = {"since": _("From"), "until": _("Until"), "granularity": _("Buckets")}
SUMMARIES = {registry.CUSTOMER: "customers/summary", registry.ASSIGNMENT: "assignments/summary"}


def page_reports() -> list[registry.ReportDef]:
    """The reports of a period, in the page's order (one added later comes last)."""
    reports = [report for report in registry.REPORTS.values() if not report.object]
    rank = {name: position for position, name in enumerate(ORDER)}
    return sorted(reports, key=lambda report: rank.get(report.name, len(ORDER)))


def _params(request) -> dict:
    """The period as asked (blank fields left out: an empty date box means the default)."""
    return {
        name: request.GET[name].strip()
        for name in PERIOD_FIELDS
        if request.GET.get(name, "").strip()
    }


def _query_for(report: registry.ReportDef, params: dict) -> dict:
    fields = report.query().fields
    return {name: value for name, value in params.items() if name in fields}


def _errors(params: dict) -> dict[str, list[str]]:
    """What is wrong with the period, field by field, as the API's query serializers say
    (every report's: they share the period's fields)."""
    errors: dict[str, list[str]] = {}
    for report in page_reports():
        try:
            registry.validate(report.name, _query_for(report, params))
        except ValidationError as error:
            detail = error.detail if isinstance(error.detail, dict) else {"": error.detail}
            for field, messages in detail.items():
                known = errors.setdefault(field, [])
                known += [str(message) for message in messages if str(message) not in known]
    return errors


def _is_number(value) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _table(report: registry.ReportDef, data: dict) -> dict:
    """The report's CSV table, cell for cell (the words of its header translated)."""
    header, rows = report.table(data)
    sectioned = bool(header) and header[0] == "section"
    # A column of numbers (blanks aside) is right-aligned, its heading too.
    numeric = [
        any(_is_number(row[i]) for row in rows)
        and all(_is_number(row[i]) or row[i] in (None, "") for row in rows)
        for i in range(len(header))
    ]
    return {
        "header": [
            {"text": column_label(name), "name": name, "number": numeric[i]}
            for i, name in enumerate(header)
        ],
        "rows": [
            [
                {
                    "text": section_label(value) if sectioned and index == 0 else cell(value),
                    "number": numeric[index],
                }
                for index, value in enumerate(row)
            ]
            for row in rows
        ],
    }


def _section(report: registry.ReportDef, computed: registry.Computed, csv_url: str) -> dict:
    present = PRESENTERS.get(report.name)
    shown = present(computed.data) if present else {}
    return {
        "report": report,
        "id": f"report-{report.slug}",
        "note": shown.get("note", ""),
        "has_chart": "chart" in shown,
        "chart": shown.get("chart"),
        "chart_label": shown.get("chart_label") or report.title,
        "figures": shown.get("figures", []),
        "table": _table(report, computed.data),
        "csv_url": csv_url,
    }


@require_GET
@console_page("reports")
def reports_page(request):
    """Every report over one period (the API's default: the last 30 Lima days). A period
    the API would refuse shows why, field by field, and no figures."""
    params = _params(request)
    errors = _errors(params)
    context = {"params": params, "errors": errors, "granularities": _granularities()}
    if errors:
        context["error_messages"] = [
            f"{FIELD_LABELS.get(field, field)}: {message}" if field in FIELD_LABELS else message
            for field, messages in errors.items()
            for message in messages
        ]
    else:
        period = Period.default()
        sections = []
        for report in page_reports():
            computed = registry.compute(report.name, _query_for(report, params))
            period = computed.options.get("period", period)
            query = urlencode(_query_for(report, params))
            csv_url = reverse("console:report-csv", args=[report.name])
            sections.append(_section(report, computed, f"{csv_url}?{query}" if query else csv_url))
        context.update({"sections": sections, "period": period})
    context["shown"] = _shown_period(params, context.get("period"))
    if request.htmx:  # the period form, sent without a reload: the reports only
        return render(request, "reports/_reports.html", context)
    return render(request, "reports/reports.html", context)


def _granularities():
    return [(value, GRANULARITY_LABELS[value]) for value in GRANULARITIES]


def _shown_period(params: dict, period: Period | None) -> dict:
    """What the period form shows: what was typed, else the period's Lima days."""
    return {
        "since": params.get("since") or (period.first_day.isoformat() if period else ""),
        "until": params.get("until") or (period.last_day.isoformat() if period else ""),
        "granularity": params.get("granularity", DAY),
    }


@require_GET
@console_page("reports")
def report_csv(request, name: str):
    """A report of the page as its CSV file, for the period the page shows."""
    report = registry.REPORTS.get(name)
    if report is None or report.object:
        raise Http404
    params = _query_for(report, _params(request))
    try:
        computed = registry.compute(report.name, params)
    except ValidationError:
        # A hand-edited link: the page says what is wrong with the period.
        return redirect(f"{reverse('console:reports')}?{urlencode(_params(request))}")
    header, rows = computed.csv_table()
    return csv_response(computed.filename(), header, rows)


def _summary(request, kind: str, object_id: int, template: str, csv_name: str):
    report = registry.REPORTS[SUMMARIES[kind]]
    computed = registry.compute(report.name, {}, object_id=object_id)  # unknown: 404 page
    present = PRESENTERS.get(report.name)
    shown = present(computed.data) if present else {}
    context = {
        "report": report,
        "data": computed.data,
        "object_id": object_id,
        "chart": shown.get("chart"),
        "chart_label": shown.get("chart_label") or report.title,
        "figures": shown.get("figures", []),
        "table": _table(report, computed.data),
        "csv_url": reverse(csv_name, args=[object_id]),
        **shown.get("extra", {}),
    }
    return render(request, template, context)


def _summary_csv(kind: str, object_id: int):
    computed = registry.compute(SUMMARIES[kind], {}, object_id=object_id)
    header, rows = computed.csv_table()
    return csv_response(computed.filename(object_id), header, rows)


@require_GET
@console_page("reports")
def customer_summary(request, object_id: int):
    """One customer over its whole life (the API's `customers/{id}/summary`)."""
    return _summary(
        request,
        registry.CUSTOMER,
        object_id,
        "reports/customer_summary.html",
        "console:report-customer-csv",
    )


@require_GET
@console_page("reports")
def customer_summary_csv(request, object_id: int):
    return _summary_csv(registry.CUSTOMER, object_id)


@require_GET
@console_page("reports")
def run_summary(request, object_id: int):
    """One run (the API's `assignments/{id}/summary`)."""
    return _summary(
        request,
        registry.ASSIGNMENT,
        object_id,
        "reports/run_summary.html",
        "console:report-run-csv",
    )


@require_GET
@console_page("reports")
def run_summary_csv(request, object_id: int):
    return _summary_csv(registry.ASSIGNMENT, object_id)
