"""Hooks other apps listen to, so identity never imports them (docs/architecture.md, Who
may import whom).

- `role_assigned(user, previous_role, by)`: a user was created with, or moved to, a role,
  by `by` (None: self-registration or the system); orders links a customer record for
  `customer`, fleet a driver record for `driver`.
- `user_deactivated(user)` / `user_reactivated(user)`: profiles follow their user.
- `user_email_changed(user, previous_email)`: orders gives the login's customer record the
  new email."""

from django.dispatch import Signal

role_assigned = Signal()
user_deactivated = Signal()
user_reactivated = Signal()
user_email_changed = Signal()
