"""A local HTTP receiver for the plugins plan's notifier checks: it listens on 127.0.0.1 only,
answers each POST with the next status of a script (200 once the script is used up) and records
every request (body, headers, the status it answered).

Used as a context manager::

    with Receiver() as receiver:
        receiver.script(503, 200)           # the next request gets 503, the one after 200
        notifier = make(receiver.url, secret)
        notifier.notify(event)
        receiver.deliveries                  # [Delivery(...), Delivery(...)]
"""

from __future__ import annotations

import collections
import http.server
import threading
from collections.abc import Mapping
from types import TracebackType

import attrs

__all__ = ["Delivery", "Receiver"]

#: The most a request body may be (bytes); a longer one is answered 413 and recorded cut.
MAX_BODY = 1 << 20


@attrs.frozen
class Delivery:
    """One request the receiver got: ``path``, ``headers`` (names lower-cased), the raw
    ``body`` and the ``status`` it answered."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Receiver:
    """The receiver (see the module docstring); ``url`` is its address once entered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: collections.deque[int] = collections.deque()
        self._deliveries: list[Delivery] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_BODY))
                status = receiver._answer() if length <= MAX_BODY else 413
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver._deliveries.append(Delivery(self.path, headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the deliveries are the record

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/bdcert-kit/events"

    def script(self, *statuses: int) -> None:
        """Answer the next requests with ``statuses`` in order (then 200 again)."""
        with self._lock:
            self._script.extend(statuses)

    def fail_always(self, status: int = 503) -> None:
        """Answer every request with ``status`` until :meth:`reset`."""
        with self._lock:
            self._script.clear()
            self._script.extend([status] * 10_000)

    def reset(self) -> None:
        """Forget the script (answer 200 from now on); the deliveries stay."""
        with self._lock:
            self._script.clear()

    def _answer(self) -> int:
        with self._lock:
            return self._script.popleft() if self._script else 200

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
