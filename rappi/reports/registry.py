"""Every report, declared once: its query, its response shape, how it is built and its CSV
table. The API, the console and the benchmark all go through `compute`."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.functional import Promise
from rest_framework import serializers

from rappi.api.filters import INT64_MAX
from rappi.api.inputs import validated
from rappi.api.query import QuerySerializer
from rappi.errors import NotFoundError
from rappi.reports.periods import LIMA

CUSTOMER, ASSIGNMENT = "customer", "assignment"


class FormatQuery(QuerySerializer):
    """A report that takes no period (a snapshot of now, or one customer's or run's)."""

    format = serializers.ChoiceField(
        choices=["json", "csv"],
        default="json",
        help_text="`csv`: the same figures as a CSV file (UTF-8 with BOM, one header row)",
    )


@dataclass(frozen=True)
class ReportDef:
    name: str  # its path under /api/v1/reports/ (a summary's: "customers/summary")
    title: str | Promise  # lazily translated
    description: str
    query: type[QuerySerializer]
    output: type[serializers.Serializer]
    build: Callable[..., dict]
    # (serialized data) -> (header, rows): the CSV, from the same strings as the JSON
    table: Callable[[dict], tuple[list[str], list[list]]]
    object: str | None = None  # CUSTOMER or ASSIGNMENT: a summary of one row
    tags: tuple[str, ...] = field(default=("reports",))

    @property
    def slug(self) -> str:
        return self.name.replace("/", "-")


REPORTS: dict[str, ReportDef] = {}


def register(report: ReportDef) -> ReportDef:
    if report.name in REPORTS:
        raise ValueError(f"report {report.name!r} is declared twice")
    REPORTS[report.name] = report
    return report


@dataclass(frozen=True)
class Computed:
    report: ReportDef
    options: dict  # the validated query, `format` aside
    format: str
    data: dict  # serialized: what the API answers

    def filename(self, object_id: int | None = None) -> str:
        parts = [self.report.slug]
        if object_id is not None:
            parts.insert(1, str(object_id))
        period = self.options.get("period")
        if period is not None:
            parts += [period.first_day.isoformat(), period.last_day.isoformat()]
        else:
            parts.append(timezone.localdate(timezone=LIMA).isoformat())
        return "-".join(parts) + ".csv"

    def csv_table(self) -> tuple[list[str], list[list]]:
        return self.report.table(self.data)


def validate(name: str, params) -> tuple[dict, str]:
    """The report's query, validated (400 `invalid` naming each bad parameter)."""
    load_all()
    options = validated(REPORTS[name].query, params)
    return options, options.pop("format")


def compute(name: str, params, *, object_id: int | None = None) -> Computed:
    options, output_format = validate(name, params)
    report = REPORTS[name]
    if object_id is not None and not 1 <= object_id <= INT64_MAX:
        raise NotFoundError()  # no row has such an id
    extra = {"object_id": object_id} if report.object else {}
    data = report.output(report.build(**options, **extra)).data
    return Computed(report, options, output_format, data)


def load_all() -> None:
    """Import the modules that declare reports (once; they register on import)."""
    from rappi.reports import commerce, delivery, documents, operations  # noqa: F401
