from django.urls import re_path

from audit.api import views

urlpatterns = [
    re_path(r"^audit/events/?$", views.AuditEventListView.as_view(), name="audit-events"),
    re_path(r"^audit/summary/?$", views.AuditSummaryView.as_view(), name="audit-summary"),
    re_path(r"^audit/status/?$", views.AuditStatusView.as_view(), name="audit-status"),
]
