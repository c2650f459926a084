from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import selectors, services
from orders.api import serializers as s
from orders.filters import CustomerFilter, OrderFilter, PaymentFilter
from orders.models import Customer, Invoice, Order, Payment
from orders.ruc import ruc_lookup, ruc_validation_error
from rappi.api.idempotency import idempotent
from rappi.api.inputs import validated
from rappi.api.permissions import READ, WRITE, require_staff
from rappi.api.schema import error_response
from rappi.api.viewsets import ScopedViewSetMixin
from rappi.errors import PermissionDeniedError
from rappi.precompiled import PrecompiledRows
from rappi.selectors import get_or_404

CONFLICT = error_response("State conflict (`illegal_transition`, `order_not_editable`, …)")


# --- Customers and addresses -------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses=s.CustomerOutput(many=True)),
    retrieve=extend_schema(responses=s.CustomerOutput),
    create=extend_schema(request=s.CustomerInput, responses={201: s.CustomerOutput}),
    update=extend_schema(request=s.CustomerUpdateInput, responses=s.CustomerOutput),
    partial_update=extend_schema(request=s.CustomerUpdateInput, responses=s.CustomerOutput),
    destroy=extend_schema(responses={204: None}, summary="Deactivate a customer (soft delete)"),
)
class CustomerViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Staff see every customer; a customer only its own record."""

    resource = "customers"
    serializer_class = s.CustomerOutput
    filterset_class = CustomerFilter
    ordering_fields = ["id", "full_name", "created_at"]
    ordering = ["full_name"]

    scoped_model = Customer
    list_selector = staticmethod(selectors.customer_list_for)
    get_selector = staticmethod(selectors.customer_get_for)

    def create(self, request):
        require_staff(request)  # customers come into being by registering
        data = validated(s.CustomerInput, request.data)
        fields = {k: v for k, v in data.items() if k != "is_active"}
        customer = services.customer_create(**fields)
        return Response(s.CustomerOutput(customer).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        customer = self.get_object()
        changes = validated(s.CustomerUpdateInput, request.data, partial=True)
        if "is_active" in changes and not request.user.is_staff_member:
            raise PermissionDeniedError(_("Only staff change whether a customer is active."))
        customer = services.customer_update(customer=customer, **changes)
        return Response(s.CustomerOutput(customer).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        require_staff(request)
        services.customer_deactivate(customer=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(responses=s.AddressSerializer(many=True)),
    create=extend_schema(request=s.AddressSerializer, responses={201: s.AddressSerializer}),
    update=extend_schema(request=s.AddressSerializer, responses=s.AddressSerializer),
    partial_update=extend_schema(request=s.AddressSerializer, responses=s.AddressSerializer),
    destroy=extend_schema(responses={204: None}),
)
class AddressViewSet(viewsets.ModelViewSet):
    resource = "customers"
    serializer_class = s.AddressSerializer
    filter_backends = []
    pagination_class = None

    def _customer(self):
        return selectors.customer_get_for(user=self.request.user, pk=self.kwargs["customer_pk"])

    def get_queryset(self):
        return selectors.address_list_for(user=self.request.user, customer=self._customer())

    def get_object(self):
        return get_or_404(self.get_queryset(), self.kwargs["pk"])

    def create(self, request, customer_pk=None):
        customer = self._customer()
        data = validated(s.AddressSerializer, request.data)
        address = services.address_create(customer=customer, **data)
        return Response(s.AddressSerializer(address).data, status=status.HTTP_201_CREATED)

    def update(self, request, customer_pk=None, pk=None, partial=False):
        address = self.get_object()
        data = validated(s.AddressSerializer, request.data, instance=address, partial=partial)
        address = services.address_update(address=address, **data)
        return Response(s.AddressSerializer(address).data)

    def partial_update(self, request, customer_pk=None, pk=None):
        return self.update(request, customer_pk=customer_pk, pk=pk, partial=True)

    def destroy(self, request, customer_pk=None, pk=None):
        services.address_delete(address=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Orders --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses=s.OrderOutput(many=True)),
    retrieve=extend_schema(responses=s.OrderOutput),
    create=extend_schema(request=s.OrderCreateInput, responses={201: s.OrderOutput}),
    partial_update=extend_schema(
        request=s.OrderUpdateInput, responses={200: s.OrderOutput, 409: CONFLICT}
    ),
)
class OrderViewSet(
    ScopedViewSetMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    resource = "orders"
    serializer_class = s.OrderOutput
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_class = OrderFilter
    ordering_fields = ["id", "created_at", "total", "status", "scheduled_for"]
    ordering = ["-created_at"]
    permission_actions = {"quote": READ, "rating": "ratings:write"}

    scoped_model = Order
    list_selector = staticmethod(selectors.order_rows_for)  # the list, only shown
    get_selector = staticmethod(selectors.order_get_for)
    plain_list = PrecompiledRows(Order, users=("user",))

    def list(self, request):
        page = self.paginate_queryset(self.list_rows())
        drop_offs = selectors.drop_off_rows_by_order(order_ids=[row.id for row in page])
        return self.get_paginated_response(s.order_page_output(page, drop_offs))

    def _output(self, order):
        return s.OrderOutput(selectors.order_get_for(user=self.request.user, pk=order.pk)).data

    def create(self, request):
        fields = validated(s.OrderCreateInput, request.data)
        customer = services.customer_for_new_order(
            user=request.user, customer_id=fields.pop("customer_id", None)
        )
        order = services.order_create(by=request.user, customer=customer, **fields)
        # From the rows just written, with their drop-offs: what a read would give back.
        return Response(s.OrderOutput(order).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        order = self.get_object()
        data = validated(s.OrderUpdateInput, request.data, partial=True)
        order = services.order_update(order=order, by=request.user, **data)
        return Response(self._output(order))

    @extend_schema(request=s.OrderQuoteInput, responses=s.QuoteOutput)
    @action(detail=False, methods=["post"])
    def quote(self, request):
        data = validated(s.OrderQuoteInput, request.data)
        return Response(s.QuoteOutput(s.quote_output(services.order_quote(**data))).data)

    @extend_schema(request=s.CancelInput, responses={200: s.OrderOutput, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()
        data = validated(s.CancelInput, request.data)
        order = services.order_cancel(order=order, reason=data["reason"], by=request.user)
        return Response(self._output(order))

    @extend_schema(request=s.AdjustPriceInput, responses={200: s.OrderOutput, 409: CONFLICT})
    @action(detail=True, methods=["post"], url_path="adjust-price")
    def adjust_price(self, request, pk=None):
        require_staff(request)
        order = self.get_object()
        data = validated(s.AdjustPriceInput, request.data)
        order = services.order_adjust_price(order=order, by=request.user, **data)
        return Response(self._output(order))

    @extend_schema(request=None, responses={200: s.CheckoutOutput, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    @idempotent
    def checkout(self, request, pk=None):
        payment = services.payment_checkout(order=self.get_object(), by=request.user)
        return Response(
            {"payment": s.PaymentOutput(payment).data, "checkout_url": payment.checkout_url}
        )

    @extend_schema(request=s.ManualPaymentInput, responses={201: s.PaymentOutput, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def payments(self, request, pk=None):
        require_staff(request)
        order = self.get_object()
        data = validated(s.ManualPaymentInput, request.data)
        payment = services.payment_record_manual(order=order, by=request.user, **data)
        return Response(s.PaymentOutput(payment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=s.OrderEventOutput(many=True),
        summary="The order's timeline, oldest first",
        description="Every change of the order and of its drop-offs, one event each. "
        "Customers see their own orders' events without what only staff may know (who "
        "adjusted a price and why, a manual payment's reference, why a run was "
        "cancelled, incident ids, other people's ids).",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request, pk=None):
        order = self.get_object()
        page = self.paginate_queryset(
            selectors.order_event_list_for(user=request.user, order=order)
        )
        return self.get_paginated_response(
            s.OrderEventOutput(page, many=True, context={"user": request.user}).data
        )

    @extend_schema(request=s.RatingInput, responses={201: s.RatingOutput, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def rating(self, request, pk=None):
        order = self.get_object()
        data = validated(s.RatingInput, request.data)
        rating = services.rating_create(order=order, by=request.user, **data)
        return Response(s.RatingOutput(rating).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    create=extend_schema(
        request=s.DestinationInput, responses={201: s.DestinationOutput, 409: CONFLICT}
    ),
    partial_update=extend_schema(
        request=s.DestinationUpdateInput, responses={200: s.DestinationOutput, 409: CONFLICT}
    ),
    destroy=extend_schema(responses={204: None, 409: CONFLICT}),
)
class DestinationViewSet(viewsets.GenericViewSet):
    """Drop-offs of an order, editable while the order is pending payment or pending."""

    resource = "orders"
    # Removing a drop-off edits the order: the same permission as adding one.
    permission_actions = {"destroy": WRITE}
    serializer_class = s.DestinationOutput

    def _order(self):
        return selectors.order_get_for(user=self.request.user, pk=self.kwargs["order_pk"])

    def _destination(self, order):
        return get_or_404(order.destinations.all(), self.kwargs["pk"])

    def create(self, request, order_pk=None):
        order = self._order()
        data = validated(s.DestinationInput, request.data)
        destination = services.destination_add(order=order, spec=data, by=request.user)
        return Response(s.DestinationOutput(destination).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, order_pk=None, pk=None):
        order = self._order()
        destination = self._destination(order)
        data = validated(s.DestinationUpdateInput, request.data, partial=True)
        destination = services.destination_update(
            order=order, destination=destination, spec=data, by=request.user
        )
        return Response(s.DestinationOutput(destination).data)

    def destroy(self, request, order_pk=None, pk=None):
        order = self._order()
        services.destination_remove(
            order=order, destination=self._destination(order), by=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Payments ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses=s.PaymentOutput(many=True)),
    retrieve=extend_schema(responses=s.PaymentOutput),
)
class PaymentViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    resource = "payments"
    serializer_class = s.PaymentOutput
    filterset_class = PaymentFilter
    ordering_fields = ["id", "created_at", "amount", "status"]
    ordering = ["-created_at"]

    scoped_model = Payment
    list_selector = staticmethod(selectors.payment_list_for)
    get_selector = staticmethod(selectors.payment_get_for)

    @extend_schema(request=s.SimulateInput, responses={200: s.PaymentOutput, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    @idempotent
    def simulate(self, request, pk=None):
        payment = self.get_object()
        data = validated(s.SimulateInput, request.data)
        payment = services.payment_simulate(payment=payment, outcome=data["outcome"])
        return Response(s.PaymentOutput(payment).data)


class MercadoPagoWebhookView(APIView):
    """Public: MercadoPago calls it. The HMAC signature is checked, then the payment is
    read back from MercadoPago itself; nothing in the body is trusted."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    def get_authenticate_header(self, request):
        return 'Signature realm="mercadopago"'

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiTypes.OBJECT,
            401: error_response("`invalid_signature`"),
            503: error_response(
                "`payment_provider_unavailable`: MercadoPago could not be read; "
                "it retries the notification"
            ),
        },
        tags=["payments"],
    )
    def post(self, request):
        body = request.data if isinstance(request.data, dict) else {}
        query = {key: request.query_params.get(key) for key in request.query_params}
        services.payment_webhook_mercadopago(headers=request.headers, query=query, body=body)
        return Response({"received": True})


# --- Invoices, tariff ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses=s.InvoiceOutput(many=True)),
    retrieve=extend_schema(responses=s.InvoiceOutput),
    create=extend_schema(
        request=s.InvoiceInput,
        responses={
            201: s.InvoiceOutput,
            404: error_response("The order is not the caller's (`not_found`)"),
            409: CONFLICT,
        },
    ),
    update=extend_schema(request=s.InvoiceUpdateInput, responses=s.InvoiceOutput),
    partial_update=extend_schema(request=s.InvoiceUpdateInput, responses=s.InvoiceOutput),
    destroy=extend_schema(responses={204: None}),
)
class InvoiceViewSet(
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    resource = "invoices"
    serializer_class = s.InvoiceOutput
    search_fields = ["number", "ruc", "business_name"]
    ordering_fields = ["id", "issued_at", "amount", "number"]
    ordering = ["-issued_at"]

    scoped_model = Invoice
    list_selector = staticmethod(selectors.invoice_list_for)
    get_selector = staticmethod(selectors.invoice_get_for)

    def create(self, request):
        data = validated(s.InvoiceInput, request.data)
        order = selectors.order_get_for(user=request.user, pk=data["order_id"])
        invoice = services.invoice_create(
            order=order,
            ruc=data["ruc"],
            business_name=data["business_name"],
            by=request.user,
        )
        return Response(s.InvoiceOutput(invoice).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None):
        return self.partial_update(request, pk=pk)

    def partial_update(self, request, pk=None):
        require_staff(request)
        invoice = self.get_object()
        data = validated(s.InvoiceUpdateInput, request.data, partial=True)
        return Response(s.InvoiceOutput(services.invoice_update(invoice=invoice, **data)).data)

    def destroy(self, request, pk=None):
        require_staff(request)
        services.invoice_delete(invoice=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RucView(APIView):
    """Check a RUC: checksum always, the registry when one is configured."""

    resource = "invoices"

    @extend_schema(
        responses={
            200: s.RucOutput,
            404: error_response("`ruc_not_found` (registry configured)"),
            503: error_response("`ruc_registry_unavailable` (fail-closed)"),
        },
        tags=["invoices"],
    )
    def get(self, request, ruc: str):
        problem = ruc_validation_error(ruc)
        if problem:
            return Response(
                {
                    "ruc": ruc,
                    "valid": False,
                    "business_name": "",
                    "status": "",
                    "condition": "",
                    "address": "",
                    "verified": False,
                    "reason": problem,
                }
            )
        return Response({"valid": True, **ruc_lookup(ruc).__dict__})


class TariffView(APIView):
    resource = "tariff"

    @extend_schema(responses=s.TariffSerializer, tags=["tariff"])
    def get(self, request):
        return Response(s.TariffSerializer(services.tariff_get()).data)

    @extend_schema(request=s.TariffSerializer, responses=s.TariffSerializer, tags=["tariff"])
    def put(self, request):
        data = validated(
            s.TariffSerializer, request.data, instance=services.tariff_get(), partial=True
        )
        tariff = services.tariff_update(by=request.user, **data)
        return Response(s.TariffSerializer(tariff).data)
