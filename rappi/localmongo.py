"""A local MongoDB-compatible server (mongoeco) for the embedded default and the tests.

`python -m rappi.localmongo --path var/mongo.sqlite3 --port 27018` serves a SQLite-file
engine until SIGTERM/SIGINT (what `make run` starts when MONGODB_URI is not set);
`LocalMongoServer()` runs an in-memory one in a background thread (what the tests use)."""

import argparse
import asyncio
import signal
import threading
from concurrent.futures import Future
from pathlib import Path

from mongoeco.engines.memory import MemoryEngine
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer


# mongoeco compares a singly inserted document's `_id` with every stored one, besides the
# exact lookup in its `_id` map; for a non-numeric `_id` that lookup already finds any
# repeat, and the scan exists for numbers (1 == 1.0), which mongoeco still scans for. So
# each insert cost a pass over the collection (the audit log, the stored GPS fixes), and
# the server slowed down as they grew: MongoDB answers the same from its `_id` index.
class _MemoryEngine(MemoryEngine):
    def _ensure_unique_indexes(self, *args, **kwargs):
        return super()._ensure_unique_indexes(*args, **{**kwargs, "scan_payload_id": False})


class _SQLiteEngine(SQLiteEngine):
    def _validate_document_against_unique_indexes(self, *args, **kwargs):
        return super()._validate_document_against_unique_indexes(
            *args, **{**kwargs, "scan_payload_id": False}
        )


def _engine(path: str | None):
    return _SQLiteEngine(path) if path else _MemoryEngine()


class LocalMongoServer:
    """A mongoeco server on its own event loop thread; `start()` returns its URI."""

    def __init__(self, *, path: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self._path, self._host, self._port = path, host, port
        self._ready: Future[str] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="local-mongo", daemon=True)
        self.uri: str | None = None

    def start(self, timeout: float = 15) -> str:
        self._thread.start()
        self.uri = self._ready.result(timeout=timeout)
        return self.uri

    def stop(self, timeout: float = 15) -> None:
        """Stop serving (idempotent); open client sockets see the server go away."""
        if not self._thread.is_alive():
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:
            if not self._ready.done():
                self._ready.set_exception(error)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = AsyncMongoEcoProxyServer(
            engine=_engine(self._path), host=self._host, port=self._port
        )
        address = await server.start()
        try:
            self._ready.set_result(address.uri)
            await self._stop.wait()
        finally:
            await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", help="SQLite file for the data (omit for memory only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27018)
    args = parser.parse_args()
    if args.path:
        Path(args.path).parent.mkdir(parents=True, exist_ok=True)
    server = LocalMongoServer(path=args.path, host=args.host, port=args.port)
    uri = server.start()
    print(f"local MongoDB-compatible server at {uri} (data: {args.path or 'memory'})", flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
