"""Run pieces of a test at the same moment, each in its own thread with its own database
connection, to see two requests meet on the same rows (tests marked
`django_db(transaction=True)`: each thread commits for real).

    answers = race(deliver_it, cancel_it)

Each callable runs in a thread named after it (`call-<index>` for one without a name, such
as a `functools.partial`); all are released together by a barrier. `race` returns their
results in order and re-raises the first exception one raised."""

import threading

from django.db import OperationalError, connection
from psycopg import errors as pg_errors


def race(*calls, timeout: float = 60) -> list:
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call) -> None:
        try:
            start.wait(timeout)
            results[index] = call()
        except BaseException as error:  # handed to the test's thread
            errors.append(error)
        finally:
            connection.close()  # the thread's own connection

    threads = [
        threading.Thread(
            target=run, args=(index, call), name=getattr(call, "__name__", f"call-{index}")
        )
        for index, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"still running after {timeout} s: {[t.name for t in threads]}")
    if errors:
        raise errors[0]
    return results


def deadlocked(*args, **kwargs):
    """A stand-in for a service whose transaction PostgreSQL broke to end a deadlock: it
    raises what Django raises then (an OperationalError caused by psycopg's
    DeadlockDetected), for the pages and views that must answer it as a lost race."""
    try:
        raise pg_errors.DeadlockDetected("deadlock detected")
    except pg_errors.DeadlockDetected as cause:
        raise OperationalError("deadlock detected") from cause
