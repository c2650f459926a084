"""A real HTTP server on 127.0.0.1 for faking external services (OSRM, the payment
provider, the RUC registry) at their HTTP boundary: our client code runs unchanged.

    with FakeHttpServer() as fake:
        fake.add("GET", r"/v1/payments/(?P<id>\\d+)", lambda req: (200, {"id": req.match["id"]}))
        settings.MP_API_URL = fake.url
        ...
        assert fake.requests[0].headers["Authorization"] == "Bearer token"
"""

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match | None = None

    def json(self):
        return json.loads(self.body or b"null")


# A handler returns (status, body) or (status, body, headers); a dict/list body is JSON.
Handler = Callable[[FakeRequest], tuple]


@dataclass
class FakeHttpServer:
    routes: list[tuple[str, re.Pattern, Handler]] = field(default_factory=list)
    requests: list[FakeRequest] = field(default_factory=list)

    def add(self, method: str, path_regex: str, handler: Handler) -> None:
        self.routes.append((method.upper(), re.compile(f"^{path_regex}$"), handler))

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeHttpServer":
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = FakeRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                )
                fake.requests.append(request)
                for method, pattern, handler in fake.routes:
                    match = pattern.match(parts.path)
                    if method == self.command and match:
                        request.match = match
                        result = handler(request)
                        break
                else:
                    result = (404, {"message": "no fake route"})
                status, body, *rest = result
                headers = dict(rest[0]) if rest else {}  # a copy: handlers may reuse theirs
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        # A short poll interval: shutdown() waits for the loop to notice.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
