"""Limits of the HTTP service: request bodies read up to a size, and a per-client rate limit.

- :func:`read_upload` reads a request body (an uploaded PDF or OFD, a JSON Lines batch) from the
  stream and stops with a 413 problem as soon as it passes the limit, so an oversized upload is
  never held in memory whole; an empty body is a 400 problem.
- :class:`RateLimiter` counts each client's requests (:func:`~bdcert_adapters.service.auth.client_key`:
  the principal's name, else the remote address) in a fixed window of
  ``[service] rate_window_seconds`` and answers a 429 problem with ``Retry-After`` beyond
  ``[service] rate_limit`` requests. :func:`rate_limit_guard` is the Litestar guard that applies
  it to every operation under ``/api/v1``.

The rate limiter counts **per worker process, in memory**: with ``bdcert serve --workers N`` a
client may make up to ``N × rate_limit`` requests per window. That is deliberate: the service
runs on a registry's own machine, where no shared store (Redis, memcached) can be assumed, and
counting in the register's database would add a write to every read. The limit is a brake on a
runaway or abusive client, not an accounting quota; lookups by certificate number and name have
their own attempt limit, kept in storage (``TooManyAttempts``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.handlers.base import BaseRouteHandler

from bdcert_adapters.service.problems import problem

__all__ = ["RateLimiter", "rate_limit_guard", "read_upload"]


async def read_upload(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The request body, read from the stream, at most ``limit`` bytes.

    Call it once, instead of ``request.body()`` (and without a ``data`` parameter): it reads
    the ASGI stream itself, so the upload's own limit applies rather than the app-wide
    ``max_request_bytes`` meant for JSON bodies.

    :param limit: bytes (``ServiceSettings.max_upload_bytes`` for a document,
        ``max_batch_bytes`` for a batch).
    :raises ProblemError: 413 ``too-large`` as soon as the body passes ``limit`` (a declared
        ``Content-Length`` above it is refused before reading); 400 ``empty-body`` for an empty
        body.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    # Read the ASGI messages directly: Request.stream() would apply the app-wide
    # max_request_bytes (meant for JSON bodies) instead of this limit.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise problem(400, "incomplete-body", "incomplete request body", "the client left")
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if size == 0:
        raise problem(400, "empty-body", "empty request body", "the request body is empty")
    return b"".join(chunks)


def _too_large(limit: int) -> Exception:
    return problem(
        413,
        "too-large",
        "request body too large",
        f"the request body is larger than the limit of {limit} bytes",
    )


class RateLimiter:
    """At most ``limit`` requests per client per ``window`` seconds (fixed windows), in memory.

    :param limit: requests per window; 0 turns the limit off.
    :param window: seconds.
    :param clock: monotonic seconds; default :func:`time.monotonic`.
    """

    def __init__(
        self, limit: int, window: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}  # client -> (window number, requests)

    def hit(self, client: str) -> int | None:
        """Count one request of ``client``.

        :returns: None when it is allowed, else the seconds until its window ends (>= 1), for
            ``Retry-After``.
        """
        if self.limit <= 0:
            return None
        now = self._clock()
        current = int(now // self.window)
        with self._lock:
            number, count = self._counts.get(client, (current, 0))
            if number != current:
                count = 0
                if len(self._counts) > 10_000:  # forget the clients of past windows
                    self._counts = {k: v for k, v in self._counts.items() if v[0] == current}
            count += 1
            self._counts[client] = (current, count)
        if count <= self.limit:
            return None
        return max(1, math.ceil((current + 1) * self.window - now))


def rate_limit_guard(connection: Any, _: BaseRouteHandler) -> None:
    """Litestar guard: 429 ``rate-limited`` problem (with ``Retry-After``) for a client over
    ``[service] rate_limit`` requests per ``rate_window_seconds``.

    A request with bad credentials (401) counts against its address, so guessing tokens is
    limited too.

    The limiter is ``app.state.rate_limiter`` (made by :func:`~bdcert_adapters.service.create_app`);
    a refusal is counted in ``bdcert_rate_limited_total``.
    """
    from bdcert_adapters.service.auth import client_key
    from bdcert_adapters.service.problems import ProblemError

    limiter: RateLimiter | None = getattr(connection.app.state, "rate_limiter", None)
    if limiter is None or limiter.limit <= 0:
        return
    refused: ProblemError | None = None
    try:
        key = client_key(connection)
    except ProblemError as exc:  # bad credentials count against the address: no free guessing
        refused = exc
        client = connection.client
        key = f"address:{client.host if client else 'unknown'}"
    retry_after = limiter.hit(key)
    if retry_after is not None:
        from bdcert_adapters.service import metrics

        metrics.record_rate_limited()
        raise problem(
            429,
            "rate-limited",
            "too many requests",
            f"more than {limiter.limit} requests in {limiter.window} s from this client",
            retry_after=retry_after,
        )
    if refused is not None:
        raise refused
