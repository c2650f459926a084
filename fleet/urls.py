"""The console's fleet pages, under /console/ (the JSON API is in fleet/api/urls.py)."""

from django.urls import path

from fleet import views

console_urlpatterns = [
    path("runs/", views.run_board, name="runs"),
    path("runs/<int:pk>/", views.run_page, name="run"),
    path("runs/<int:pk>/start/", views.run_start, name="run-start"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/finish/", views.run_finish, name="run-finish"),
    path("runs/<int:pk>/reopen/", views.run_reopen, name="run-reopen"),
    path("runs/<int:pk>/route/plan/", views.run_route_plan, name="run-route-plan"),
    path("runs/<int:pk>/route/optimize/", views.run_route_optimize, name="run-route-optimize"),
    path("runs/<int:pk>/route/sequence/", views.run_route_sequence, name="run-route-sequence"),
    path("runs/<int:pk>/incidents/", views.run_incident_report, name="run-incident-report"),
    path("incidents/", views.incident_board, name="incidents"),
    path(
        "incidents/<int:pk>/evidence/",
        views.incident_evidence_upload,
        name="incident-evidence-upload",
    ),
    path("drivers/", views.driver_list, name="drivers"),
    path("vehicles/", views.vehicle_list, name="vehicles"),
    # Evidence bytes for console pages (proof thumbnails, incident evidence).
    path("files/<str:file_id>/", views.evidence_file, name="file"),
]
