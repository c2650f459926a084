"""Writes audit records without a request ever waiting for MongoDB, and without losing
them when MongoDB is away or slow.

`submit()` only puts the record on a bounded in-process queue. A background thread
takes what has piled up (up to AUDIT_BATCH_SIZE at a time) and inserts it with one
`insert_many`. Batches go to the local spool (audit.spool) instead, and so does
everything after them, in order, while:

- MongoDB does not answer: its client gives up after AUDIT_MONGODB_TIMEOUT_MS to
  connect and a few seconds on a write; a retry every AUDIT_RETRY_SECONDS finds it back;
- MongoDB is too slow to keep up: the queue is half full, or the last insert took over
  a second with a batch already waiting. Appending to the spool costs an fsync per
  batch, so the queue empties long before it could overflow.

While the queue is below that mark the thread replays the spool, a chunk at a time,
stopping whenever the queue climbs back: MongoDB gets what it can take, the rest waits
on disk rather than in memory. Segments left by a previous or dead process are replayed
the same way, at startup and then periodically.

Each record carries its `_id` from birth; a replay inserts a chunk unordered and counts
the records MongoDB already has (a batch it had partly taken when the connection broke,
or one both written and spooled at shutdown) from their duplicate-key errors, so each
record is written exactly once. A full queue or spool drops the record, counts it and
logs; nothing here ever raises into a request, and no error, expected or not, loses the
batch in hand."""

import atexit
import logging
import os
import queue
import threading
import time
from pathlib import Path

import pymongo
from bson.errors import BSONError
from django.conf import settings
from pymongo import MongoClient
from pymongo.errors import BulkWriteError, PyMongoError

from audit.documents import COLLECTION
from audit.spool import Spool
from rappi.mongo import DUPLICATE_KEY

logger = logging.getLogger("audit.writer")

_LOG_EVERY_S = 60
# While spooling, one append (one fsync) takes this many queued records at most.
_SPOOL_CHUNK = 1000
# What the driver raises for a record it cannot encode (an integer past 64 bits, a lone
# surrogate in a string): that record is refused, the others still written.
_UNENCODABLE = (BSONError, OverflowError, UnicodeError)


class AuditWriter:
    def __init__(
        self,
        *,
        uri: str,
        db_name: str,
        spool_dir: Path | str,
        collection: str = COLLECTION,
        queue_size: int = 10000,
        batch_size: int = 50,
        spool_max_bytes: int = 512 * 1024 * 1024,
        timeout_ms: int = 500,
        socket_timeout_ms: int = 5000,
        slow_insert_seconds: float = 1.0,
        retry_seconds: float = 2.0,
        linger_seconds: float = 0.0,
        background: bool = True,
    ):
        self.uri, self.db_name, self.collection_name = uri, db_name, collection
        self.batch_size = batch_size
        self.timeout_ms = timeout_ms
        self.socket_timeout_ms = socket_timeout_ms
        self.slow_insert_seconds = slow_insert_seconds
        self.retry_seconds = retry_seconds
        self.linger_seconds = linger_seconds
        self.background = background
        self.spool = Spool(spool_dir, max_bytes=spool_max_bytes)
        self.counts = {
            "written": 0,
            "spooled": 0,
            "replayed": 0,
            "duplicates": 0,
            "rejected": 0,
            "errors": 0,
            "dropped_queue_full": 0,
            "dropped_spool_full": 0,
            "dropped_spool_error": 0,
            "dropped_at_exit": 0,
        }
        self._queue: queue.Queue[dict] = queue.Queue(maxsize=queue_size)
        self.high_water = max(1, queue_size // 2)
        self._pending = 0  # submitted, not yet written, spooled or dropped
        self._pending_changed = threading.Condition()
        self._work = threading.Lock()  # one batch at a time: the thread, flush or shutdown
        self._inflight: list[dict] = []  # the batch being written, for shutdown to spool
        self._last_insert_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: MongoClient | None = None
        self._down = False
        self._retry_at = 0.0  # no replay before this (after a failure)
        self._scan_at = 0.0  # next look for other processes' segments; at once at start
        self._last_drop_log: dict[str, float] = {}
        self._closed = False

    @classmethod
    def from_settings(cls, **overrides) -> "AuditWriter":
        from rappi.mongo import database_name

        options = {
            "uri": settings.MONGODB_URI,
            "db_name": database_name(settings.MONGODB_URI),
            "spool_dir": settings.AUDIT_SPOOL_DIR,
            "queue_size": settings.AUDIT_QUEUE_SIZE,
            "batch_size": settings.AUDIT_BATCH_SIZE,
            "spool_max_bytes": settings.AUDIT_SPOOL_MAX_BYTES,
            "timeout_ms": settings.AUDIT_MONGODB_TIMEOUT_MS,
            "retry_seconds": settings.AUDIT_RETRY_SECONDS,
            "linger_seconds": settings.AUDIT_LINGER_MS / 1000,
        }
        return cls(**{**options, **overrides})

    # --- Called from requests ------------------------------------------------------------

    def submit(self, record: dict) -> None:
        """Queue one record; never blocks, never raises."""
        if self._closed:  # after shutdown: straight to disk, for the next process
            self._spool_at_exit([record])
            return
        with self._pending_changed:
            self._pending += 1
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._settled(1)
            self._dropped("dropped_queue_full", 1)
            return
        if self.background and self._thread is None:
            self.start()

    # --- Lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        with self._work:
            if self._thread is not None or not self.background or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted record is written, spooled or dropped (the thread
        does the work; without one, it is done here). True when nothing is left."""
        if self._thread is None:
            with self._work:
                while not self._queue.empty():
                    self._process(self._take_nowait(self._take_limit()))
            return True
        deadline = time.monotonic() + timeout
        with self._pending_changed:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._pending_changed.wait(remaining)
        return True

    def replay(self) -> int:
        """Replay the spool now; returns the records replayed. Raises PyMongoError if
        MongoDB is still unreachable (the spool is kept)."""
        with self._work:
            return self._replay()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread and write what is still queued: to MongoDB if it answers within
        the time left, else to the spool. Returns within about `timeout` even if MongoDB
        hangs. Idempotent; registered for interpreter exit."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if not self._work.acquire(timeout=max(0.1, deadline - time.monotonic())):
            # The thread is still in a slow write: the batch it holds and what is queued
            # go to a segment of their own, which the next process replays (and which
            # finds that batch already in MongoDB if the write ends up going through).
            queued = self._take_nowait(self._queue.qsize() + 1)
            self._spool_at_exit([*self._inflight, *queued])
            self._settled(len(queued))
            return
        try:
            while not self._queue.empty():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._down = True  # out of time: what is left goes to disk
                # A hung MongoDB cannot hold the worker past its deadline.
                with pymongo.timeout(max(remaining, 0.05)):
                    self._process(self._take_nowait(self._take_limit()))
            self.spool.close()
            if self._client is not None:
                self._client.close()
                self._client = None
        finally:
            self._work.release()

    def _spool_at_exit(self, batch: list[dict]) -> None:
        """To a segment of its own, released at once: the next process replays it."""
        if not batch:
            return
        spool = Spool(self.spool.directory, max_bytes=self.spool.max_bytes)
        try:
            kept = spool.append(batch)
        except Exception:
            logger.exception("Audit spool unwritable")
            kept = 0
        finally:
            spool.close()
        self.counts["spooled"] += kept
        if kept < len(batch):
            self._dropped("dropped_at_exit", len(batch) - kept)

    # --- The background thread --------------------------------------------------------

    def _run(self) -> None:
        wait = min(1.0, self.retry_seconds)
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                batch = []
            else:
                if self.linger_seconds and self._queue.qsize() < self._take_limit() - 1:
                    # Records that arrive meanwhile join this batch: MongoDB takes several
                    # in one insert for much less than one insert each. Stopping ends it.
                    self._stop.wait(self.linger_seconds)
                batch = [first, *self._take_nowait(self._take_limit() - 1)]
            try:
                with self._work:
                    self._process(batch)
            except Exception:  # the thread must survive anything
                self._error("Audit writer error")

    def _take_nowait(self, limit: int | None = None) -> list[dict]:
        limit = self.batch_size if limit is None else limit
        batch: list[dict] = []
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _take_limit(self) -> int:
        return _SPOOL_CHUNK if self._spooling() else self.batch_size

    def _behind(self) -> bool:
        """MongoDB is not keeping up: what arrives should go to disk, not pile up here."""
        waiting = self._queue.qsize()
        return waiting >= self.high_water or (
            waiting >= self.batch_size and self._last_insert_s >= self.slow_insert_seconds
        )

    def _spooling(self) -> bool:
        return self._down or self.spool.holds_records() or self._behind()

    def _process(self, batch: list[dict]) -> None:
        """Write one batch and replay the spool if it is time, keeping order: while this
        process has spooled records, or MongoDB is down or not keeping up, new records go
        to the spool behind them (first thing: on disk, they are safe)."""
        self._inflight = batch
        try:
            to_write = batch
            if to_write and self._spooling():
                self._to_spool(to_write)
                to_write = []
            if self._replay_due():
                try:
                    self._replay()
                except PyMongoError:
                    pass  # still down, noted; retried later
                except Exception:
                    self._retry_at = time.monotonic() + self.retry_seconds
                    self._error("Audit spool replay failed")
            if to_write:
                self._write(to_write)
        finally:
            self._inflight = []
            self._settled(len(batch))

    def _replay_due(self) -> bool:
        # No replay once stopping (the time left is for what is still queued), nor while
        # the queue needs draining first.
        if self._stop.is_set() or self._behind():
            return False
        now = time.monotonic()
        if now < self._retry_at:
            return False
        if self._down or self.spool.holds_records():
            return True
        return now >= self._scan_at and self.spool.has_segments()

    def _write(self, batch: list[dict]) -> None:
        """Into MongoDB a batch at a time while it keeps up; the rest to the spool."""
        done = 0
        while done < len(batch) and not self._spooling():
            part = batch[done : done + self.batch_size]
            try:
                self._insert(part)
            except PyMongoError as exc:
                self._went_down(exc)
                break
            except Exception:
                # Whatever it was, the records are kept; their replay finds what got through.
                self._error("Audit batch not written, spooled")
                break
            self.counts["written"] += len(part)
            done += len(part)
        if done < len(batch):
            self._to_spool(batch[done:])

    def _replay(self) -> int:
        self._scan_at = time.monotonic() + self.retry_seconds
        was_down, before = self._down, self.counts["replayed"]
        try:
            if self._down:
                self._database().command("ping")
            self.spool.replay(
                self._insert_missing,
                chunk=self.batch_size,
                pause=lambda: self._stop.is_set() or self._behind(),
            )
        except PyMongoError as exc:
            self._went_down(exc)
            raise
        self._down = False
        replayed = self.counts["replayed"] - before
        if was_down:
            logger.warning("MongoDB is back: audit spool replayed", extra={"records": replayed})
        elif replayed:
            logger.info("Audit spool replayed", extra={"records": replayed})
        return replayed

    def _went_down(self, exc: Exception) -> None:
        if not self._down:
            logger.warning(
                "MongoDB unreachable: audit records go to the local spool",
                extra={"error": f"{exc.__class__.__name__}: {exc}"[:300]},
            )
        self._down = True
        self._retry_at = time.monotonic() + self.retry_seconds

    def _to_spool(self, batch: list[dict]) -> None:
        try:
            kept = self.spool.append(batch)
        except Exception:
            logger.exception(
                "Audit spool unwritable", extra={"spool_dir": str(self.spool.directory)}
            )
            self._dropped("dropped_spool_error", len(batch))
            return
        self.counts["spooled"] += kept
        if kept < len(batch):
            self._dropped("dropped_spool_full", len(batch) - kept)

    # --- MongoDB -------------------------------------------------------------------------

    def _database(self):
        if self._client is None:
            self._client = MongoClient(
                self.uri,
                serverSelectionTimeoutMS=self.timeout_ms,
                connectTimeoutMS=self.timeout_ms,
                # A write stuck longer than this means MongoDB is not keeping up: the
                # batch goes to the spool and its replay finds what got through.
                socketTimeoutMS=self.socket_timeout_ms,
                tz_aware=True,
                uuidRepresentation="standard",
                appname="rappi-audit",
            )
        return self._client[self.db_name]

    def _insert_missing(self, records: list[dict]) -> None:
        """For replays: the records MongoDB already has come back as duplicate-key errors
        of one unordered insert. Looking them up first by `_id` would cost a second round
        trip, and a full scan on a MongoDB-compatible server without real indexes: under
        load that scan kept the server too busy to take new batches, which went to the
        spool in turn."""
        self._insert(records, ordered=False)
        self.counts["replayed"] += len(records)

    def _insert(self, records: list[dict], *, ordered: bool = True) -> None:
        """Insert, timed (a slow one means MongoDB is not keeping up). A record the driver
        cannot encode is refused on its own: spooled with the rest, it would hold up every
        record behind it at each replay."""
        started = time.monotonic()
        try:
            self._insert_many(records, ordered=ordered)
        except _UNENCODABLE:
            for record in records:
                try:
                    self._insert_many([record], ordered=True)
                except _UNENCODABLE as exc:
                    self._refused(f"{exc.__class__.__name__}: {exc}")
        finally:
            self._last_insert_s = time.monotonic() - started

    def _insert_many(self, records: list[dict], *, ordered: bool) -> None:
        """A record already there (duplicate `_id`) or refused by the server is skipped
        and the rest still inserted: an unordered insert reports every failure at once,
        an ordered one stops at the first and goes on from the record after it."""
        collection = self._database()[self.collection_name]
        start = 0
        while start < len(records):
            try:
                collection.insert_many(records[start:], ordered=ordered)
                return
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors") or []
                if not errors:  # only the write concern failed: the records are in
                    logger.warning("Audit records written without their write concern")
                    return
                for error in errors:
                    if error.get("code") == DUPLICATE_KEY:
                        self.counts["duplicates"] += 1
                    else:
                        self._refused(str(error.get("errmsg", "")))
                if not ordered:
                    return
                start += errors[0].get("index", len(records) - start) + 1

    # --- Bookkeeping -----------------------------------------------------------------

    def _settled(self, count: int) -> None:
        if not count:
            return
        with self._pending_changed:
            self._pending -= count
            self._pending_changed.notify_all()

    def _refused(self, error: str) -> None:
        self.counts["rejected"] += 1
        logger.error("Audit record refused by MongoDB", extra={"error": error[:300]})

    def _error(self, message: str) -> None:
        self.counts["errors"] += 1
        logger.exception(message)

    def _dropped(self, reason: str, count: int) -> None:
        self.counts[reason] += count
        now = time.monotonic()
        if now - self._last_drop_log.get(reason, -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._last_drop_log[reason] = now
            logger.error(
                "Audit records dropped",
                extra={"reason": reason, "dropped_total": self.counts[reason]},
            )

    def state(self) -> dict:
        """This process's writer: its counts since it started."""
        return {
            "pid": os.getpid(),
            "mongodb": "down" if self._down else "up",
            "queued": self._queue.qsize(),
            "spooling": self._spooling(),
            "corrupt_spool_lines": self.spool.corrupt,
            **self.counts,
        }


# --- The process's writer --------------------------------------------------------------

_writer: AuditWriter | None = None
_writer_pid: int | None = None
_writer_lock = threading.Lock()
_report_spool: Spool | None = None  # keeps its line counts between reports


def get_writer() -> AuditWriter:
    """This process's writer, made on first use (after a fork, anew: threads, locks and
    sockets do not survive one)."""
    global _writer, _writer_pid
    if _writer is None or _writer_pid != os.getpid():
        with _writer_lock:
            if _writer is None or _writer_pid != os.getpid():
                _writer, _writer_pid = AuditWriter.from_settings(), os.getpid()
    return _writer


def install(writer: AuditWriter | None) -> AuditWriter | None:
    """Make `writer` this process's writer (tests point it at their own server and
    spool); returns the previous one."""
    global _writer, _writer_pid
    with _writer_lock:
        previous = _writer if _writer_pid == os.getpid() else None
        _writer, _writer_pid = writer, os.getpid()
    return previous


def submit(record: dict) -> None:
    try:
        get_writer().submit(record)
    except Exception:  # never into a request
        logger.exception("Audit record could not be queued")


def start() -> None:
    """Start the writer now (gunicorn's post_worker_init), so a spool left by a previous
    process is replayed without waiting for traffic."""
    get_writer().start()


def shutdown(timeout: float = 5.0) -> None:
    if _writer is not None and _writer_pid == os.getpid():
        _writer.shutdown(timeout)


def status() -> dict:
    """For `GET /api/v1/audit/status`: the spool of this host (every worker's segments)
    and the counts of this worker's writer (None if it has none yet)."""
    if _writer is not None and _writer_pid == os.getpid():
        return {"host_spool": _writer.spool.depth(), "worker": _writer.state()}
    global _report_spool
    if _report_spool is None or _report_spool.directory != Path(settings.AUDIT_SPOOL_DIR):
        _report_spool = Spool(settings.AUDIT_SPOOL_DIR, max_bytes=settings.AUDIT_SPOOL_MAX_BYTES)
    return {"host_spool": _report_spool.depth(), "worker": None}


atexit.register(shutdown)
