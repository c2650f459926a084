"""Orders writes, one module a part: `customers` (and addresses), `lifecycle` (the order
state machine), `quotes` (tariff and pricing), `orders` (create, edit, cancel), `payments`,
`invoices` (and ratings). Every state change of an order goes through `order_transition`.
Callers use the package (`from orders import services`); the names below are its API."""

from orders.services.customers import (
    address_create,
    address_delete,
    address_update,
    customer_create,
    customer_deactivate,
    customer_email_clean,
    customer_follow_user_email,
    customer_for_new_order,
    customer_link_user,
    customer_update,
)
from orders.services.invoices import (
    invoice_create,
    invoice_delete,
    invoice_update,
    rating_create,
    rating_delete,
)
from orders.services.lifecycle import TERMINAL, TRANSITIONS, order_transition
from orders.services.orders import (
    destination_add,
    destination_remove,
    destination_update,
    order_adjust_price,
    order_cancel,
    order_create,
    order_update,
)
from orders.services.payments import (
    payment_apply_provider_state,
    payment_checkout,
    payment_confirm,
    payment_fail,
    payment_record_manual,
    payment_simulate,
    payment_webhook_mercadopago,
)
from orders.services.quotes import SCHEDULE_TOLERANCE, order_quote, tariff_get, tariff_update

__all__ = [
    "SCHEDULE_TOLERANCE",
    "TERMINAL",
    "TRANSITIONS",
    "address_create",
    "address_delete",
    "address_update",
    "customer_create",
    "customer_deactivate",
    "customer_email_clean",
    "customer_follow_user_email",
    "customer_for_new_order",
    "customer_link_user",
    "customer_update",
    "destination_add",
    "destination_remove",
    "destination_update",
    "invoice_create",
    "invoice_delete",
    "invoice_update",
    "order_adjust_price",
    "order_cancel",
    "order_create",
    "order_quote",
    "order_transition",
    "order_update",
    "payment_apply_provider_state",
    "payment_checkout",
    "payment_confirm",
    "payment_fail",
    "payment_record_manual",
    "payment_simulate",
    "payment_webhook_mercadopago",
    "rating_create",
    "rating_delete",
    "tariff_get",
    "tariff_update",
]
