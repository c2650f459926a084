"""The audit log's console page, under /console/ (the JSON API is in audit/api/urls.py)."""

from django.urls import path

from audit import views

console_urlpatterns = [
    path("audit/", views.audit_log, name="audit"),
]
