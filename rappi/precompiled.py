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
"""

from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import router
from django.db.models import Model, QuerySet
from django.db.models.sql import Query

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


class _PrecompiledQuery(Query):
    """Hands the ORM's iterables a compiler that already knows its SQL and select list."""

    def __init__(self, shape: _Shape, params: list):
        super().__init__(shape.model)
        self.shape = shape
        self.values = params

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        compiler = super().get_compiler(using, connection, elide_empty)
        shape, params = self.shape, self.values
        compiler.select = shape.select
        compiler.klass_info = shape.klass_info
        compiler.annotation_col_map = shape.annotation_col_map
        compiler.col_count = shape.col_count
        compiler.has_extra_select = shape.has_extra_select
        compiler.as_sql = lambda *args, **kwargs: (shape.sql, params)
        return compiler


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
        users = {name: arguments[name] for name in self.users}
        model = self.model
        db = router.db_for_read(model)
        key = (db, *((user.scope, user.is_active) for user in users.values()))
        shape = self._shapes.get(key)
        if shape is None:
            with self._lock:
                shape = self._shapes.get(key) or self._compile(db, users)
                self._shapes[key] = shape
        if shape.sql is None:
            return []
        values = {name: arguments[name] for name in self.ids}
        values.update({name: user.pk for name, user in users.items()})
        params = list(shape.params)
        for position, name in shape.slots.items():
            params[position] = values[name]
        queryset: QuerySet[M] = QuerySet(
            model=model, query=_PrecompiledQuery(shape, params), using=db
        )
        queryset._prefetch_related_lookups = shape.prefetch  # type: ignore[attr-defined]
        return list(queryset)

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

    def _built(self, round_: int, users: dict[str, Any]) -> QuerySet:
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
        return self.build(**arguments)

    def _stand_ins(self, round_: int) -> dict[str, int]:
        names = self.ids + self.users
        return {name: _STAND_INS[round_] - number for number, name in enumerate(names)}

    def _compile(self, db: str, users: dict[str, Any]) -> _Shape:
        compiled = []
        for round_ in (0, 1):
            queryset = self._built(round_, users)
            compiler = queryset.query.get_compiler(using=db)
            try:
                sql, params = compiler.as_sql()
            except EmptyResultSet:
                sql, params = None, ()
            compiled.append((queryset, compiler, sql, tuple(params)))
        (queryset, compiler, sql, params), (_qs, _compiler, sql_again, params_again) = compiled
        if sql is None:
            return _Shape(self.model, None, (), {}, None, None, None, 0, False, ())
        if sql != sql_again or len(params) != len(params_again):
            raise ValueError(f"{self.build.__qualname__}: the SQL changes with its values")
        slots: dict[int, str] = {}
        first, second = self._stand_ins(0), self._stand_ins(1)
        for position, (one, other) in enumerate(zip(params, params_again, strict=True)):
            name = next((n for n, value in first.items() if value == one), None)
            if name is not None and second[name] == other:
                slots[position] = name
            elif one != other:
                raise ValueError(
                    f"{self.build.__qualname__}: parameter {position} changes between "
                    "two builds; pass it as an argument"
                )
        missing = set(self.ids) - set(slots.values())
        if missing:
            raise ValueError(f"{self.build.__qualname__}: {sorted(missing)} not in its SQL")
        if queryset.model is not self.model:
            raise TypeError(f"{self.build.__qualname__} reads {queryset.model.__name__} rows")
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
            prefetch=tuple(queryset._prefetch_related_lookups),  # type: ignore[attr-defined]
        )


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
