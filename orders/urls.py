"""Server-rendered pages of the orders app (the JSON API is in orders/api/urls.py)."""

from django.urls import path

from orders import views

urlpatterns = [
    # The simulated provider's checkout page; the signed token is the only key.
    path("pay/simulated/<str:token>/", views.simulated_checkout, name="simulated-checkout"),
]
