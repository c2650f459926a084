"""The tracking pages of the console (fleet map, geofences), under /console/ (the JSON API is in
tracking/api/urls.py)."""

from django.urls import path

from tracking import views

console_urlpatterns = [
    path("fleet/", views.fleet_map, name="fleet"),
    path("geofences/", views.geofence_list, name="geofences"),
    path("geofences/new/", views.geofence_new, name="geofence_new"),
    path("geofences/<str:pk>/", views.geofence_detail, name="geofence"),
    path("geofences/<str:pk>/edit/", views.geofence_edit, name="geofence_edit"),
    path("geofences/<str:pk>/deactivate/", views.geofence_deactivate, name="geofence_deactivate"),
]
