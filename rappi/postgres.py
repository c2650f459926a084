"""What a PostgreSQL connection gets on top of Django's set-up.

Timestamps: Django loads every `timestamptz` through a loader of its own written in Python
(it pins the value's tzinfo to the connection's time zone). With USE_TZ the session time
zone is UTC, which Django sets on connecting, and psycopg's compiled loader then gives
the very same values, `tzinfo=datetime.UTC` included, for a fraction of the CPU: parsing
the timestamps of a page of 50 orders in Python cost more than encoding the whole page
as JSON. So each new connection loads them with psycopg's own loader behind the attribute
Django reads (`timezone`). Any other time zone keeps Django's loader."""

import datetime

from django.db.backends.signals import connection_created
from psycopg import adapters
from psycopg.adapt import Loader
from psycopg.pq import Format

TIMESTAMPTZ_OID = adapters.types["timestamptz"].oid
# The loader psycopg itself registers: its compiled one when psycopg's C extension
# (`psycopg[binary]`) is installed, its Python one otherwise.
DEFAULT_TIMESTAMPTZ_LOADER = adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


class UtcTimestamptzLoader(Loader):
    # Django's `create_cursor` compares this with the connection's time zone and puts its
    # own loader back on the cursor when they differ.
    timezone = datetime.UTC

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        # The compiled loader cannot be subclassed; its bound `load` is what psycopg calls.
        self.load = DEFAULT_TIMESTAMPTZ_LOADER(oid, context).load

    def load(self, data):  # replaced per instance in __init__
        raise NotImplementedError


def _load_timestamps_natively(sender, connection, **kwargs):
    if connection.vendor != "postgresql" or connection.timezone != datetime.UTC:
        return
    if connection.connection.info.parameter_status("TimeZone") != "UTC":
        return
    connection.connection.adapters.register_loader(TIMESTAMPTZ_OID, UtcTimestamptzLoader)


connection_created.connect(_load_timestamps_natively, dispatch_uid="rappi-postgres-timestamps")
