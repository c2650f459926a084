"""Database functions the reports need, written for PostgreSQL and for SQLite (the
embedded default of `make run`), so that every figure is computed by the database."""

import math
from decimal import Decimal

from django.db.backends.signals import connection_created
from django.db.models import Aggregate, DecimalField, F, FloatField, Func, Sum, Value
from django.db.models.functions import Coalesce

ZERO = Decimal("0.00")


class Minutes(Func):
    """Minutes from `start` to `end` (two datetimes), as a float."""

    output_field = FloatField()

    def __init__(self, end, start):
        super().__init__(_expr(end), _expr(start))

    def _operands(self, compiler):
        (end, end_params), (start, start_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        return end, start, (*end_params, *start_params)

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL
        end, start, params = self._operands(compiler)
        # date_part is double precision; EXTRACT is numeric since PostgreSQL 14, and a
        # year of drop-offs averaged and ranked as numeric costs half as much again.
        return f"(date_part('epoch', {end} - {start}) / 60.0)", params

    def as_sqlite(self, compiler, connection, **extra):
        end, start, params = self._operands(compiler)
        # julianday() is a float of days: rounded to the millisecond (what SQLite keeps),
        # four hours are 240 minutes, not 239.99999977.
        return f"(ROUND((julianday({end}) - julianday({start})) * 86400000.0) / 60000.0)", params


class Percentile(Aggregate):
    """The continuous percentile (linear interpolation, as PostgreSQL's percentile_cont) of
    `expression` at `fraction` (0..1); None over no rows."""

    name = "Percentile"
    output_field = FloatField()
    allow_distinct = False

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction is between 0 and 1")
        self.fraction = float(fraction)
        super().__init__(_expr(expression), **extra)

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        filter_sql = ""
        filter_params = ()
        if self.filter is not None:
            filter_sql, filter_params = compiler.compile(self.filter)
            filter_sql = f" FILTER (WHERE {filter_sql})"
        return (
            f"PERCENTILE_CONT({self.fraction!r}) WITHIN GROUP (ORDER BY {sql}){filter_sql}",
            (*params, *filter_params),
        )

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        if self.filter is not None:
            filter_sql, filter_params = compiler.compile(self.filter)
            sql, params = (
                f"CASE WHEN {filter_sql} THEN {sql} ELSE NULL END",
                (*filter_params, *params),
            )
        return f"RAPPI_PERCENTILE_CONT({sql}, {self.fraction!r})", params


def _expr(value):
    return F(value) if isinstance(value, str) else value


def money_sum(expression, **extra):
    """A sum of money: 0.00, not None, over no rows."""
    field = DecimalField(max_digits=14, decimal_places=2)
    return Coalesce(Sum(expression, output_field=field, **extra), Value(ZERO), output_field=field)


class _SqlitePercentile:
    """SQLite's side of `Percentile`: an aggregate the SQLite engine calls row by row (as
    Django registers STDDEV and VARIANCE there), with PostgreSQL's interpolation."""

    def __init__(self):
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value, fraction):
        self.fraction = fraction
        if value is not None:
            self.values.append(float(value))

    def finalize(self):
        if not self.values:
            return None
        self.values.sort()
        position = self.fraction * (len(self.values) - 1)
        low, high = math.floor(position), math.ceil(position)
        return self.values[low] + (self.values[high] - self.values[low]) * (position - low)


def _register_sqlite_functions(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("RAPPI_PERCENTILE_CONT", 2, _SqlitePercentile)


connection_created.connect(_register_sqlite_functions, dispatch_uid="rappi-reports-sqlite")
