"""Hooks other apps listen to, so orders never imports them.

- `order_cancelling(order)`: sent inside `order_cancel`'s transaction before the order is
  locked; fleet locks the order's live runs, which the cancellation may change: runs
  before orders (docs/architecture.md, Lock order).
- `order_cancelled(order)`: sent inside the cancelling transaction; fleet cancels a run
  the order leaves empty and frees its driver."""

from django.dispatch import Signal

order_cancelling = Signal()
order_cancelled = Signal()
