"""The geofence pages of the console, under /console/ (the JSON API is in
tracking/api/urls.py)."""

from django.urls import path

from tracking import views

console_urlpatterns = [
    path("geofences/", views.geofence_list, name="geofences"),
    path("geofences/<str:pk>/", views.geofence_detail, name="geofence"),
]
