"""Server-rendered pages of the orders app (the JSON API is in orders/api/urls.py):
`urlpatterns` at the site's root, `console_urlpatterns` under /console/."""

from django.urls import path

from orders import views

urlpatterns = [
    # The simulated provider's checkout page; the signed token is the only key.
    path("pay/simulated/<str:token>/", views.simulated_checkout, name="simulated-checkout"),
]

console_urlpatterns = [
    path("orders/", views.order_board, name="orders"),
    path("orders/assign/", views.order_assign, name="order-assign"),
    path("orders/<int:pk>/", views.order_page, name="order"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="order-cancel"),
    path("orders/<int:pk>/adjust-price/", views.order_adjust_price, name="order-adjust-price"),
    path("orders/<int:pk>/payments/", views.order_payment, name="order-payment"),
    path("orders/<int:pk>/destinations/", views.destination_add, name="order-destination-add"),
    path(
        "orders/<int:pk>/destinations/<int:destination_id>/",
        views.destination_update,
        name="order-destination-update",
    ),
    path(
        "orders/<int:pk>/destinations/<int:destination_id>/remove/",
        views.destination_remove,
        name="order-destination-remove",
    ),
    path("customers/", views.customer_list, name="customers"),
]
