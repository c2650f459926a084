"""Reads whose SQL the ORM compiles once per process: `Precompiled`.

Building a queryset and compiling it to SQL was most of the worker CPU of the hot reads
that fetch one row: about a third of a GPS ping (its run) and half of an order's detail,
profiled under load. The row changes with every call, the SQL only with the caller's
scope. A `Precompiled` read builds its queryset with stand-in values once per scope and
database, keeps the SQL and what the ORM needs to turn rows into instances (the
compiler's `select`, `klass_info` and annotation columns), and runs that SQL with each
call's values. Instances, `select_related`, annotations and `prefetch_related` are the
ORM's own, as are the rules: the builder is the selector's usual queryset.

What keeps it honest:

- ids (`ids=`) are stand-in numbers no row has, and each must come out of the compiler
  as a parameter of its own;
- a user (`users=`) is a stand-in with the caller's role and `is_active` and a stand-in
  id, and the SQL is kept per scope (`staff`, `customer`, `driver`) and `is_active`: the
  builder may narrow by the user as `identity.scoping.scoped` does, nothing else of it;
- the queryset is compiled twice with different stand-ins, and any other parameter that
  differs between the two (a `now()` taken in the builder) is refused rather than
  frozen into the SQL.

`PrecompiledRows` does the same for a list of named rows (`values_list(..., named=True)`)
that a paginator pages: its count and each page are one statement each, the page's
LIMIT and OFFSET bound as parameters.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import NamedValuesListIterable
from django.db.models.sql import Query
from django.db.models.utils import create_namedtuple_class

from rappi.errors import NotFoundError
from rappi.selectors import checked_id

# Stand-in ids (two sets: the builder runs twice). Negative: no row has them.
_STAND_INS = (-7_391_201_553_000, -5_118_420_937_000)


@dataclass(frozen=True)
class _Shape:
    """One compiled form of the read: SQL, where each call's values go, and the ORM's
    row-to-instance plan. `sql` None: the read selects nothing (`QuerySet.none()`)."""

    model: type[Model]
    sql: str | None
    params: tuple
    slots: dict[int, str]  # parameter position -> argument name
    select: Any
    klass_info: Any
    annotation_col_map: Any
    col_count: int
    has_extra_select: bool
    prefetch: tuple
    # Database vendors whose rows of this shape need no converter (PostgreSQL's, for most
    # reads): what the compiler would otherwise work out column by column on each call.
    converter_free: set[str] = field(default_factory=set)

    def bound(self, values: dict[str, Any]) -> list:
        return _bound(self.params, self.slots, values)


def _bound(params: tuple, slots: dict[int, str], values: dict[str, Any]) -> list:
    """The parameters of one call: `values` (by argument name) in their slots."""
    bound = list(params)
    for position, name in slots.items():
        bound[position] = values[name]
    return bound


class _PrecompiledQuery(Query):
    """Hands the ORM's iterables a compiler that already knows its SQL and select list."""

    def __init__(self, shape: _Shape, params: list, sql: str | None = None):
        super().__init__(shape.model)
        self.shape = shape
        self.values = params
        self.sql = shape.sql if sql is None else sql

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        compiler = super().get_compiler(using, connection, elide_empty)
        shape, sql, params = self.shape, self.sql, self.values
        compiler.select = shape.select
        compiler.klass_info = shape.klass_info
        compiler.annotation_col_map = shape.annotation_col_map
        compiler.col_count = shape.col_count
        compiler.has_extra_select = shape.has_extra_select
        compiler.as_sql = lambda *args, **kwargs: (sql, params)
        vendor = compiler.connection.vendor
        if vendor in shape.converter_free:
            compiler.get_converters = _no_converters
        else:
            compiler.get_converters = _noting_converters(compiler.get_converters, shape, vendor)
        return compiler


def _no_converters(expressions) -> dict:
    return {}


def _noting_converters(get_converters: Callable, shape: _Shape, vendor: str) -> Callable:
    """`get_converters` that notes on `shape` when `vendor` needs none for its columns."""

    def noting(expressions) -> dict:
        converters = get_converters(expressions)
        if not converters:
            shape.converter_free.add(vendor)
        return converters

    return noting


class Precompiled[M: Model]:
    """A read of `model` rows built by `build(**arguments)` (a queryset, sliced as the
    caller wants it), compiled once per database and per scope of each user argument.
    `ids`: the names of the integer arguments; `users`: the names of the user ones."""

    def __init__(
        self,
        model: type[M],
        build: Callable[..., QuerySet],
        *,
        ids: tuple[str, ...],
        users: tuple[str, ...] = (),
    ):
        self.model = model
        self.build = build
        self.ids = ids
        self.users = users
        self._shapes: dict[tuple, _Shape] = {}
        self._lock = Lock()

    def __call__(self, **arguments) -> list[M]:
        """The rows, as instances (like `list(queryset)`)."""
        db, shape, values = self._prepared(self.build, arguments)
        if shape.sql is None:
            return []
        queryset: QuerySet[M] = QuerySet(
            model=self.model, query=_PrecompiledQuery(shape, shape.bound(values)), using=db
        )
        queryset._prefetch_related_lookups = shape.prefetch  # type: ignore[attr-defined]
        return list(queryset)

    def _prepared(self, build: Callable[..., QuerySet], arguments: dict) -> tuple:
        """The database, the compiled shape for the callers' scopes (compiled now if it is
        the first call of these scopes) and the call's values by argument name."""
        users = {name: arguments[name] for name in self.users}
        db = router.db_for_read(self.model)
        key = (db, *((user.scope, user.is_active) for user in users.values()))
        shape = self._shapes.get(key)
        if shape is None:
            with self._lock:
                shape = self._shapes.get(key) or self._compile(db, build, users)
                self._shapes[key] = shape
        values = {name: arguments[name] for name in self.ids}
        values.update({name: user.pk for name, user in users.items()})
        return db, shape, values

    def get_or_404(self, **arguments) -> M:
        """The one row the read finds, else 404 (ids as `rappi.selectors.get_or_404` takes
        them: digits from a URL, or an int)."""
        for name in self.ids:
            value = checked_id(arguments[name])
            if isinstance(value, str):
                if not value.isdigit():
                    raise NotFoundError()
                value = int(value)
            arguments[name] = value
        found = self(**arguments)
        if not found:
            raise NotFoundError()
        return found[0]

    def _built(
        self, build: Callable[..., QuerySet], round_: int, users: dict[str, Any]
    ) -> QuerySet:
        """The builder's queryset with the stand-ins of `round_`."""
        stand_ins = self._stand_ins(round_)
        arguments: dict[str, Any] = {name: stand_ins[name] for name in self.ids}
        for name, user in users.items():
            stand_in = get_user_model()(
                pk=stand_ins[name], is_active=user.is_active, role_id=user.role_id
            )
            if user.role_id is not None:
                stand_in.role = user.role
            arguments[name] = stand_in
        return build(**arguments)

    def _stand_ins(self, round_: int) -> dict[str, int]:
        names = self.ids + self.users
        return {name: _STAND_INS[round_] - number for number, name in enumerate(names)}

    def _compile(self, db: str, build: Callable[..., QuerySet], users: dict[str, Any]) -> _Shape:
        queryset, compiler, sql, params, slots = self._compiled(db, build, users)
        if sql is None:
            return _Shape(self.model, None, (), {}, None, None, None, 0, False, ())
        return self._shape(compiler, sql, params, slots, tuple(queryset._prefetch_related_lookups))

    def _shape(self, compiler, sql: str, params: tuple, slots: dict, prefetch: tuple) -> _Shape:
        """The compiled SQL with what the ORM needs from its compiler to read the rows."""
        return _Shape(
            model=self.model,
            sql=sql,
            params=params,
            slots=slots,
            select=compiler.select,
            klass_info=compiler.klass_info,
            annotation_col_map=compiler.annotation_col_map,
            col_count=compiler.col_count,
            has_extra_select=compiler.has_extra_select,
            prefetch=prefetch,
        )

    def _compiled(
        self,
        db: str,
        build: Callable[..., QuerySet],
        users: dict[str, Any],
        finish: Callable[[QuerySet], QuerySet] = lambda queryset: queryset,
    ) -> tuple:
        """`finish(build(...))` compiled with each round of stand-ins: the first round's
        queryset and compiler, its SQL (None: it selects nothing) and parameters, and the
        slots of the call's values among them."""
        compiled = []
        for round_ in (0, 1):
            queryset = finish(self._built(build, round_, users))
            compiler = queryset.query.get_compiler(using=db)
            try:
                sql, params = compiler.as_sql()
            except EmptyResultSet:
                sql, params = None, ()
            compiled.append((queryset, compiler, sql, tuple(params)))
        (queryset, compiler, sql, params), (_qs, _compiler, sql_again, params_again) = compiled
        if queryset.model is not self.model:
            raise TypeError(f"{build.__qualname__} reads {queryset.model.__name__} rows")
        if sql is None:
            return queryset, compiler, None, (), {}
        if sql != sql_again or len(params) != len(params_again):
            raise ValueError(f"{build.__qualname__}: the SQL changes with its values")
        slots: dict[int, str] = {}
        first, second = self._stand_ins(0), self._stand_ins(1)
        for position, (one, other) in enumerate(zip(params, params_again, strict=True)):
            name = next((n for n, value in first.items() if value == one), None)
            if name is not None and second[name] == other:
                slots[position] = name
            elif one != other:
                raise ValueError(
                    f"{build.__qualname__}: parameter {position} changes between "
                    "two builds; pass it as an argument"
                )
        missing = set(self.ids) - set(slots.values())
        if missing:
            raise ValueError(f"{build.__qualname__}: {sorted(missing)} not in its SQL")
        return queryset, compiler, sql, params, slots


@dataclass(frozen=True)
class _RowsShape:
    """A compiled list of named rows: the rows' shape (`sql` None: no rows), how to make
    each a named tuple, and the statement that counts them."""

    rows: _Shape
    tuple_class: type
    count_sql: str | None
    count_params: tuple
    count_slots: dict[int, str]


class PrecompiledRows(Precompiled):
    """A list of named rows, compiled once per database and per scope of each user
    argument: `rows(build=…, **arguments)` is what a paginator pages (`count()` and
    slices), each one statement, or all of them (`all()`). `build(**arguments)`: an
    ordered, unsliced queryset ending in `values_list(..., named=True)`, called only to
    compile."""

    def __init__(self, model: type[Model], *, ids: tuple[str, ...] = (), users=()):
        super().__init__(model, _no_builder, ids=ids, users=users)

    def rows(self, *, build: Callable[..., QuerySet], **arguments) -> "CompiledRows":
        db, shape, values = self._prepared(build, arguments)
        return CompiledRows(self.model, db, shape, values)

    def _compile(self, db, build, users) -> _RowsShape:  # type: ignore[override]
        queryset, compiler, sql, params, slots = self._compiled(db, build, users)
        query = queryset.query
        named_rows = queryset._iterable_class is NamedValuesListIterable
        pageable = not query.is_sliced and query.combinator is None and not query.select_for_update
        if not (named_rows and pageable and queryset.ordered):
            raise ValueError(f"{build.__qualname__}: not an ordered, unsliced values_list")
        if connections[db].vendor not in ("postgresql", "sqlite"):
            raise ValueError(f"LIMIT %s OFFSET %s is not {connections[db].vendor}'s SQL")
        fields = queryset._fields
        if compiler.col_count != len(fields):
            raise ValueError(f"{build.__qualname__}: selects columns it does not name")
        # Counted as the ORM counts: over the rows' own select (distinct, grouped or not).
        _qs, _compiler, count_sql, count_params, count_slots = self._compiled(
            db, build, users, finish=lambda rows: rows.order_by()
        )
        return _RowsShape(
            rows=self._shape(compiler, sql, params, slots, prefetch=()),
            # As the ORM's NamedValuesListIterable: the SQL selects the named columns in order.
            tuple_class=create_namedtuple_class(*fields),
            # The ORM's own SQL with its parameters, counted.
            count_sql=count_sql and f"SELECT COUNT(*) FROM ({count_sql}) AS counted",  # noqa: S608
            count_params=count_params,
            count_slots=count_slots,
        )


def _no_builder(**arguments):
    raise TypeError("PrecompiledRows takes its builder with each call")


class CompiledRows:
    """One call's rows of a `PrecompiledRows`, read as a paginator asks for them."""

    ordered = True  # the builder's ordering is in the compiled SQL

    def __init__(self, model: type[Model], db: str, shape: _RowsShape, values: dict):
        self.model, self.db, self.shape, self.values = model, db, shape, values

    def count(self) -> int:
        shape = self.shape
        if shape.count_sql is None:
            return 0
        with connections[self.db].cursor() as cursor:
            cursor.execute(
                shape.count_sql, _bound(shape.count_params, shape.count_slots, self.values)
            )
            return cursor.fetchone()[0]

    def __getitem__(self, page: slice) -> list:
        bounded = isinstance(page, slice) and page.step is None and page.stop is not None
        if not bounded or (page.start or 0) < 0:
            raise TypeError("CompiledRows takes a slice [start:stop] of non-negative bounds")
        start, stop = page.start or 0, page.stop
        shape = self.shape.rows
        if shape.sql is None or stop <= start:
            return []
        return self._fetch(
            f"{shape.sql} LIMIT %s OFFSET %s", [*shape.bound(self.values), stop - start, start]
        )

    def all(self) -> list:
        """Every row."""
        shape = self.shape.rows
        if shape.sql is None:
            return []
        return self._fetch(shape.sql, shape.bound(self.values))

    def _fetch(self, sql: str, params: list) -> list:
        compiler = _PrecompiledQuery(self.shape.rows, params, sql).get_compiler(using=self.db)
        tuple_class, new = self.shape.tuple_class, tuple.__new__
        return [new(tuple_class, row) for row in compiler.results_iter(tuple_expected=True)]


def attach_prefetched(instance: Model, relation: str, rows: list) -> None:
    """Leave `rows` on `instance` as `prefetch_related(relation)` would (a reverse
    foreign key): `instance.<relation>.all()` answers them without a query, and each row
    knows `instance` as its parent. For a read whose related rows come from a
    `Precompiled` read of their own."""
    manager = getattr(instance, relation)
    queryset = manager.get_queryset()
    queryset._result_cache = rows
    queryset._prefetch_done = True
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[manager.field.remote_field.cache_name] = queryset
    for row in rows:
        manager.field.set_cached_value(row, instance)
