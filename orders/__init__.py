"""Orders: customers and addresses, multi-drop orders, pricing, payments, invoices, ratings."""
