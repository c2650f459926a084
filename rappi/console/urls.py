"""The console's own URLs (under /console/, namespace `console`); each app adds its
pages' URLs through its `console_urlpatterns`."""

from django.urls import path

from rappi.console import views

urlpatterns = [
    path("", views.overview_page, name="overview"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
]
