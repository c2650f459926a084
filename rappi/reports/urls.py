from django.urls import re_path

from rappi.reports import registry
from rappi.reports.api import view_for

registry.load_all()


def _pattern(report: registry.ReportDef) -> str:
    # Like the routers' routes, these answer with and without the trailing slash.
    if report.object:
        collection, _slash, tail = report.name.partition("/")
        return rf"^reports/{collection}/(?P<{report.object}_id>[0-9]+)/{tail}/?$"
    return rf"^reports/{report.name}/?$"


urlpatterns = [
    re_path(_pattern(report), view_for(report).as_view(), name=f"reports-{report.slug}")
    for report in registry.REPORTS.values()
]
