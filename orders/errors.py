from django.utils.translation import gettext_lazy as _

from rappi.errors import ConflictError


class OrderNotEditableError(ConflictError):
    code = "order_not_editable"
    default_message = _("Only orders pending payment or pending can be edited.")


class OrderNotPayableError(ConflictError):
    code = "order_not_payable"
    default_message = _("Only an order pending payment can be paid.")


class AmountMismatchError(ConflictError):
    code = "amount_mismatch"
    default_message = _("The amount must equal the order total.")


class AlreadyPaidError(ConflictError):
    code = "already_paid"
    default_message = _("The order already has a paid payment.")


class WrongProviderError(ConflictError):
    code = "wrong_provider"
    default_message = _("Only payments of the simulated provider can be simulated.")


class PaymentNotPendingError(ConflictError):
    code = "payment_not_pending"
    default_message = _("The payment is no longer pending.")


class OrderNotPaidError(ConflictError):
    code = "order_not_paid"
    default_message = _("Invoices are issued for paid orders only.")


class InvoiceExistsError(ConflictError):
    code = "invoice_exists"
    default_message = _("The order already has an invoice.")


class OrderNotDeliveredError(ConflictError):
    code = "order_not_delivered"
    default_message = _("Only delivered orders can be rated.")


class AlreadyRatedError(ConflictError):
    code = "already_rated"
    default_message = _("The order has already been rated.")


class InactiveCustomerError(ConflictError):
    code = "customer_inactive"
    default_message = _("The customer is inactive.")
