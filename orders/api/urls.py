from django.urls import re_path

from orders.api import views
from rappi.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("customers", views.CustomerViewSet, basename="customers")
router.register(
    r"customers/(?P<customer_pk>[0-9]+)/addresses", views.AddressViewSet, basename="addresses"
)
router.register("orders", views.OrderViewSet, basename="orders")
router.register(
    r"orders/(?P<order_pk>[0-9]+)/destinations", views.DestinationViewSet, basename="destinations"
)
router.register("payments", views.PaymentViewSet, basename="payments")
router.register("invoices", views.InvoiceViewSet, basename="invoices")

urlpatterns = [
    re_path(
        r"^payments/webhooks/mercadopago/?$",
        views.MercadoPagoWebhookView.as_view(),
        name="payments-webhook-mercadopago",
    ),
    re_path(r"^invoices/ruc/(?P<ruc>[^/]{1,20})/?$", views.RucView.as_view(), name="invoices-ruc"),
    re_path(r"^tariff/?$", views.TariffView.as_view(), name="tariff"),
    *router.urls,
]
