"""The console's report pages, under /console/ (namespace `console`; the API's are in
rappi/reports/urls.py)."""

from django.urls import path

from rappi.reports import views

console_urlpatterns = [
    path("reports/", views.reports_page, name="reports"),
    path("reports/<slug:name>.csv", views.report_csv, name="report-csv"),
    path("reports/customers/<int:object_id>/", views.customer_summary, name="report-customer"),
    path(
        "reports/customers/<int:object_id>.csv",
        views.customer_summary_csv,
        name="report-customer-csv",
    ),
    path("reports/runs/<int:object_id>/", views.run_summary, name="report-run"),
    path("reports/runs/<int:object_id>.csv", views.run_summary_csv, name="report-run-csv"),
]
