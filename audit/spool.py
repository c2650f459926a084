"""The durable local spool: records MongoDB could not take (or not fast enough), kept on
disk until it can.

One directory per host, shared by every worker process. Records are appended as
canonical Extended JSON (ObjectIds and dates survive), one per line, to segment files
named by creation time, so sorting the names gives the order they were written in. A
process appends only to segments it holds an exclusive `flock` on, and keeps holding
them until they are replayed; a segment nobody holds (its process stopped or died) is
claimed by whichever process replays next. The kernel drops a dead process's locks, so
a crash never leaves a segment stranded. A segment is created under a temporary name
and gets its `.jsonl` name only once locked, so no replay can claim (and remove) a
segment between its creation and its first records.

Every appended batch is fsynced before the writer moves on: the cost falls on the writer
thread, never on a request, while a record acknowledged to the queue and lost to a power
cut would be exactly the silent loss the spool exists to prevent. A write that fails
half-way (a full disk) is cut back to where it began, so the next batch never glues
onto half a line."""

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bson import json_util

logger = logging.getLogger("audit.spool")

SUFFIX = ".jsonl"
TEMPORARY_SUFFIX = ".tmp"
_JSON_OUT = json_util.CANONICAL_JSON_OPTIONS
_JSON_IN = json_util.JSONOptions(tz_aware=True, tzinfo=json_util.utc)
_READ_BYTES = 1 << 16


class _Segment:
    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd
        self.offset = 0  # bytes already replayed
        self.lines_done = 0  # lines already replayed (for the depth report)
        self.broken = False  # a failed write could not be cut back: append elsewhere

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def close(self) -> None:
        os.close(self.fd)  # releases the lock


class Spool:
    def __init__(
        self, directory: Path | str, *, max_bytes: int, segment_bytes: int = 4 * 1024 * 1024
    ):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._own: list[_Segment] = []  # ours, locked, oldest first
        self._claimed: dict[Path, _Segment] = {}  # others', locked while being replayed
        self._sequence = 0
        self.corrupt = 0
        self._line_counts: dict[Path, tuple[int, int]] = {}  # path → (size, lines)
        self._count_lock = threading.Lock()  # depth() runs in request threads

    # --- State -----------------------------------------------------------------------

    def paths(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        return sorted(Path(e.path) for e in entries if e.name.endswith(SUFFIX) and e.is_file())

    def total_bytes(self) -> int:
        total = 0
        for path in self.paths():
            with contextlib.suppress(FileNotFoundError):  # replayed and removed meanwhile
                total += path.stat().st_size
        return total

    def holds_records(self) -> bool:
        """True while this process has spooled records not yet replayed: new records must
        queue behind them to keep the order."""
        return bool(self._own)

    def has_segments(self) -> bool:
        return bool(self.paths())

    def depth(self) -> dict:
        """What waits on this host: segments, bytes and records (complete lines not yet
        replayed). Lines are counted once per segment as it grows, so a report reads only
        what was appended since the previous one."""
        held = {s.path: s.lines_done for s in [*self._own, *list(self._claimed.values())]}
        segments = size_total = records = 0
        with self._count_lock:
            counts = {}
            for path in self.paths():
                known_size, lines = self._line_counts.get(path, (0, 0))
                try:
                    size = path.stat().st_size
                    if size < known_size:  # a failed write was cut back
                        known_size, lines = 0, 0
                    if size > known_size:
                        lines += _count_lines(path, known_size, size)
                except FileNotFoundError:  # replayed and removed meanwhile
                    continue
                counts[path] = (size, lines)
                segments += 1
                size_total += size
                records += max(0, lines - held.get(path, 0))
            self._line_counts = counts
        return {"segments": segments, "bytes": size_total, "records": records}

    # --- Writing ---------------------------------------------------------------------

    def append(self, records: list[dict]) -> int:
        """Append what fits under the size bound; returns how many records were kept.
        Raises OSError when the disk refuses the write (nothing of it is left behind)."""
        lines = [(json_util.dumps(r, json_options=_JSON_OUT) + "\n").encode() for r in records]
        room = self.max_bytes - self.total_bytes()
        kept: list[bytes] = []
        for line in lines:
            if len(line) > room:
                break
            kept.append(line)
            room -= len(line)
        if not kept:
            return 0
        segment = self._writable_segment()
        start = segment.size()
        try:
            _write_all(segment.fd, b"".join(kept))
            os.fsync(segment.fd)
        except OSError:
            try:
                os.ftruncate(segment.fd, start)
            except OSError:
                segment.broken = True  # its tail is half a line: the next batch goes elsewhere
            raise
        return len(kept)

    def _writable_segment(self) -> _Segment:
        if self._own:
            last = self._own[-1]
            if not last.broken and last.size() < self.segment_bytes:
                return last
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._sequence += 1
        stem = f"{time.time_ns():020d}-{os.getpid()}-{self._sequence:06d}"
        temporary = self.directory / f"{stem}{TEMPORARY_SUFFIX}"
        path = self.directory / f"{stem}{SUFFIX}"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(temporary, path)  # visible to replays only once locked
            _fsync_directory(self.directory)  # the new name survives a power cut too
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        segment = _Segment(path, fd)
        self._own.append(segment)
        return segment

    # --- Replaying -------------------------------------------------------------------

    def replay(
        self,
        sink: Callable[[list[dict]], None],
        *,
        chunk: int,
        pause: Callable[[], bool] | None = None,
    ) -> int:
        """Feed every segment this process holds or can claim to `sink`, oldest first,
        `chunk` records at a time; a segment is removed once all of it went through.
        Returns the records fed. Before each chunk `pause()` may stop the replay; a
        failing sink stops it too (the exception propagates). Either way the segments
        stay held and the next replay resumes where this one stopped."""
        fed = 0
        for path in self.paths():
            segment = self._held(path) or self._claim(path)
            if segment is None:
                continue  # another live process holds it and will replay it
            for batch, end, lines, corrupt in self._batches(segment, chunk):
                if batch:
                    if pause is not None and pause():
                        return fed
                    sink(batch)
                    fed += len(batch)
                segment.offset = end
                segment.lines_done += lines
                self.corrupt += corrupt
            self._remove(segment)
        return fed

    def _held(self, path: Path) -> _Segment | None:
        return self._claimed.get(path) or next((s for s in self._own if s.path == path), None)

    def _claim(self, path: Path) -> _Segment | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError:
            logger.exception("Audit spool segment unreadable", extra={"spool_file": path.name})
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if os.fstat(fd).st_nlink == 0:  # replayed and removed before our lock
            os.close(fd)
            return None
        segment = _Segment(path, fd)
        self._claimed[path] = segment
        return segment

    def _remove(self, segment: _Segment) -> None:
        try:
            segment.path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            # Left on disk, it is replayed again later and its records found in MongoDB.
            logger.exception(
                "Replayed audit spool segment not removed", extra={"spool_file": segment.path.name}
            )
        segment.close()
        self._claimed.pop(segment.path, None)
        if segment in self._own:
            self._own.remove(segment)

    def _batches(self, segment: _Segment, chunk: int) -> Iterator[tuple[list[dict], int, int, int]]:
        """(records, offset after them, lines read, unreadable lines) from where the
        segment's replay stopped."""
        batch: list[dict] = []
        lines = corrupt = 0
        end = segment.offset
        for line, after in _lines(segment.fd, segment.offset):
            end = after
            lines += 1
            record = _parse(line)
            if record is None:
                # A line cut short by a crash mid-write: nothing in it can be recovered.
                corrupt += 1
                logger.error(
                    "Unreadable audit spool line skipped",
                    extra={"spool_file": segment.path.name, "offset": end - len(line)},
                )
                continue
            batch.append(record)
            if len(batch) >= chunk:
                yield batch, end, lines, corrupt
                batch, lines, corrupt = [], 0, 0
        if batch or lines:
            yield batch, end, lines, corrupt

    def records(self) -> Iterator[dict]:
        """Every spooled record, oldest first, without claiming anything (for reports)."""
        for path in self.paths():
            try:
                with open(path, "rb") as handle:
                    for line in handle:
                        record = _parse(line)
                        if record is not None:
                            yield record
            except FileNotFoundError:
                continue

    def close(self) -> None:
        """Release this process's segments; their records stay on disk for the next one."""
        for segment in [*self._own, *self._claimed.values()]:
            segment.close()
        self._own, self._claimed = [], {}


def _parse(line: bytes) -> dict | None:
    """The record on a spool line, or None when the line holds none (cut short by a crash,
    or not a record at all)."""
    try:
        record = json_util.loads(line, json_options=_JSON_IN)
    except Exception:  # json_util raises ValueError, TypeError or bson errors
        return None
    return record if isinstance(record, dict) and "_id" in record else None


def _lines(fd: int, offset: int) -> Iterator[tuple[bytes, int]]:
    """The lines from `offset` to the end of the file, each with the offset after it; a
    last line without its newline (a crash mid-write) comes too."""
    pending, cursor, position = b"", offset, offset
    while data := os.pread(fd, _READ_BYTES, position):
        position += len(data)
        *complete, pending = (pending + data).split(b"\n")
        for line in complete:
            cursor += len(line) + 1
            yield line, cursor
    if pending:
        yield pending, cursor + len(pending)


def _count_lines(path: Path, start: int, end: int) -> int:
    count = 0
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining > 0 and (data := handle.read(min(_READ_BYTES, remaining))):
            count += data.count(b"\n")
            remaining -= len(data)
    return count


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
