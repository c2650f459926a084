"""Hooks other apps listen to, so orders never imports them.

- `order_cancelled(order)`: sent inside the cancelling transaction; fleet cancels a run
  the order leaves empty and frees its driver."""

from django.dispatch import Signal

order_cancelled = Signal()
