"""The notification inbox's console pages, under /console/ (the JSON API is in
identity/api/urls.py)."""

from django.urls import path

from identity import views

console_urlpatterns = [
    path("notifications/", views.notification_inbox, name="notifications"),
    path("notifications/read-all/", views.notification_read_all, name="notifications-read-all"),
    path("notifications/<str:pk>/read/", views.notification_read, name="notification-read"),
]
