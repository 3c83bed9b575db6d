"""A city's client of the provincial interface (``bdcert serve``; rule articles 7, 12, 14):
:class:`ProvinceClient` (blocking) and :class:`AsyncProvinceClient` (asyncio), over httpx.

Both share one description of every operation (:class:`Call`: method, path, query, body) and one
reading of every answer (:func:`read_json`, :func:`read_bytes`, :func:`read_lines`); they differ
only in how a call is sent. Retries: a connection error, a timeout before an answer, or a 503
is tried again with exponential backoff (tenacity), ``retries`` times; pushing is safe to
repeat (the province answers an exact re-push as ``replayed``). Every other error answer is a
problem document (RFC 9457) raised as :class:`ProvinceError`; a province still unreachable
after the retries raises :class:`ProvinceUnreachable`. Both are :class:`~bdcert.errors.BdcertError`.

::

    with ProvinceClient("https://province.example", token="…") as province:
        result = province.push(entry)                    # POST /api/v1/entries
        for event in province.feed(authority="510100"):  # GET /api/v1/feed, following next
            pdf = province.pdf(event.number)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import attrs
import httpx
import tenacity

from bdcert.errors import BdcertError
from bdcert.lifecycle.feed import FeedEvent
from bdcert.wire import converter

__all__ = [
    "AsyncProvinceClient",
    "Call",
    "FieldError",
    "ProvinceClient",
    "ProvinceError",
    "ProvinceUnreachable",
    "certificate_path",
    "read_bytes",
    "read_json",
    "read_lines",
]

API = "/api/v1"
#: Answers worth trying again: the province is overloaded or sealing is down for a moment.
RETRY_STATUSES = frozenset({503})
#: The biggest page of the feed one request asks for.
FEED_PAGE = 500


@attrs.define(frozen=True)
class FieldError:
    """One bad field a problem document names: its path (``qlr[0].zjh``) and why."""

    field: str
    message: str


class ProvinceUnreachable(BdcertError):
    """The province did not answer (connection refused, reset or timed out), even after the
    retries."""


class ProvinceError(BdcertError):
    """The province answered with an error (a problem document, RFC 9457).

    :ivar status: the HTTP status. :ivar title: the problem's title. :ivar detail: its detail.
    :ivar type: its type URI (``https://bdcert.dev/problems/<slug>``), or ``about:blank``.
    :ivar errors: every bad field it names (for 400 and 409).
    :ivar retry_after: seconds to wait (429, 503), or None.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",
        errors: Iterable[FieldError] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.errors = tuple(errors)
        self.retry_after = retry_after


class _Retry(Exception):
    """A 503 answer, to be tried again (the last one becomes the ProvinceError)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def certificate_path(number: str, suffix: str = "") -> str:
    """``/api/v1/certificates/{number}{suffix}`` with the number percent-encoded (UTF-8)."""
    return f"{API}/certificates/{quote(number, safe='')}{suffix}"


def problem_of(response: httpx.Response) -> ProvinceError:
    """The :class:`ProvinceError` of an error answer (a problem document or anything else)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text[:500]
        return ProvinceError(response.status_code, response.reason_phrase or "error", text)
    errors = [
        FieldError(str(e.get("field", "")), str(e.get("message", "")))
        for e in body.get("errors") or ()
        if isinstance(e, dict)
    ]
    retry_after = body.get("retry_after")
    return ProvinceError(
        int(body.get("status") or response.status_code),
        str(body.get("title") or response.reason_phrase or "error"),
        str(body.get("detail") or ""),
        type=str(body.get("type") or "about:blank"),
        errors=errors,
        retry_after=retry_after if isinstance(retry_after, int) else None,
    )


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code in RETRY_STATUSES:
        raise _Retry(response)
    if response.is_error:
        raise problem_of(response)
    return response


def read_json(response: httpx.Response) -> Any:
    """The JSON body of a successful answer. :raises ProvinceError: for an error answer."""
    return _checked(response).json()


def read_bytes(response: httpx.Response) -> bytes:
    """The body of a successful answer (a PDF, an OFD). :raises ProvinceError:"""
    return _checked(response).content


def read_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON Lines answer (blank lines skipped)."""
    for line in lines:
        if line.strip():
            yield json.loads(line)


def feed_page(body: Any) -> tuple[list[FeedEvent], str]:
    """The events and the ``next`` cursor of a feed page."""
    events = [converter.structure(e, FeedEvent) for e in body["events"]]
    return events, str(body["next"])


def document_type(document: bytes) -> str:
    """The media type of a certificate document: OFD (a ZIP package) or PDF."""
    return "application/ofd" if document[:4] == b"PK\x03\x04" else "application/pdf"


@attrs.define(frozen=True)
class Call:
    """One request of the interface, whichever client sends it."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] | None = None

    def request(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        params = {k: v for k, v in (self.params or {}).items() if v is not None}
        return client.build_request(
            self.method,
            self.path,
            params=params or None,
            json=self.json,
            content=self.content,
            headers=dict(self.headers or {}),
        )

    # -- the operations --------------------------------------------------------------------

    @classmethod
    def push(cls, entry: Mapping[str, Any]) -> Call:
        return cls("POST", f"{API}/entries", json=dict(entry))

    @classmethod
    def push_batch(cls, entries: Iterable[Mapping[str, Any]]) -> Call:
        body = "".join(json.dumps(dict(e), ensure_ascii=False) + "\n" for e in entries)
        headers = {"Content-Type": "application/x-ndjson", "Accept": "application/x-ndjson"}
        return cls("POST", f"{API}/entries/batch", content=body.encode("utf-8"), headers=headers)

    @classmethod
    def certificate(cls, number: str, suffix: str = "") -> Call:
        return cls("GET", certificate_path(number, suffix))

    @classmethod
    def verify(cls, document: bytes) -> Call:
        headers = {"Content-Type": document_type(document)}
        return cls("POST", f"{API}/verify", content=bytes(document), headers=headers)

    @classmethod
    def feed(cls, after: str | None, authority: str | None, limit: int) -> Call:
        params = {"after": after, "authority": authority, "limit": limit}
        return cls("GET", f"{API}/feed", params=params)

    @classmethod
    def summary(cls, authority: str | None) -> Call:
        return cls("GET", f"{API}/library/summary", params={"authority": authority})


def _client_options(
    base_url: str,
    token: str | None,
    cert: Any,
    verify: Any,
    timeout: float | httpx.Timeout,
    transport: Any,
) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    options: dict[str, Any] = {"base_url": base_url, "headers": headers, "timeout": timeout}
    if cert is not None:
        options["cert"] = cert
    if verify is not None:
        options["verify"] = verify
    if transport is not None:
        options["transport"] = transport
    return options


def _retrying(retries: int, backoff: float) -> dict[str, Any]:
    return {
        "retry": tenacity.retry_if_exception_type((httpx.TransportError, _Retry)),
        "stop": tenacity.stop_after_attempt(retries + 1),
        "wait": tenacity.wait_exponential(multiplier=backoff, max=30),
        "reraise": True,
    }


@contextmanager
def _answering(call: Call) -> Iterator[None]:
    """Within it, the last 503 becomes its :class:`ProvinceError`, a connection error that
    outlasted the retries :class:`ProvinceUnreachable`."""
    try:
        yield
    except _Retry as exc:
        raise problem_of(exc.response) from None
    except httpx.TransportError as exc:
        message = f"{call.method} {call.path}: {type(exc).__name__}: {exc}"
        raise ProvinceUnreachable(message) from exc


def _judged(response: httpx.Response) -> httpx.Response:
    """``response`` when it is an answer; raises :class:`_Retry` (to try again) or
    :class:`ProvinceError` otherwise."""
    if response.is_error or response.status_code in RETRY_STATUSES:
        _checked(response)
    return response


class _Connection:
    """What both clients hold: the httpx client (built by ``_HTTP``, ``httpx.Client`` or
    ``httpx.AsyncClient``) and the retry policy; the parameters are :class:`ProvinceClient`'s."""

    _HTTP: Any = httpx.Client

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        cert: Any = None,
        verify: Any = None,
        timeout: float | httpx.Timeout = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = self._HTTP(
            **_client_options(base_url, token, cert, verify, timeout, transport)
        )
        self._retry = _retrying(retries, backoff)

    @property
    def base_url(self) -> str:
        """The province's URL."""
        return str(self._http.base_url)


class ProvinceClient(_Connection):
    """The provincial interface, blocking.

    :param base_url: the province's URL (``https://province.example``).
    :param token: an API token (``Authorization: Bearer``), or None.
    :param cert: a TLS client certificate as httpx takes it (``"client.pem"`` or
        ``("cert.pem", "key.pem")``), or None.
    :param verify: the CA bundle (path) that verifies the province's TLS certificate, or None
        for the system's.
    :param timeout: seconds (or an ``httpx.Timeout``).
    :param retries: attempts after the first on a connection error or a 503.
    :param backoff: the first wait before trying again, in seconds (doubling, at most 30).
    :param transport: an httpx transport (tests pass one that calls an app in-process).
    """

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProvinceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send_raw(self, call: Call, *, stream: bool = False) -> httpx.Response:
        with _answering(call):
            for attempt in tenacity.Retrying(**self._retry):
                with attempt:
                    response = self._http.send(call.request(self._http), stream=stream)
                    if stream and response.is_error:
                        response.read()
                        response.close()
                    return _judged(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, call: Call, read: Any) -> Any:
        return read(self._send_raw(call))

    def push(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Push one registration-book entry (``POST /api/v1/entries``); its result."""
        result: dict[str, Any] = self._send(Call.push(entry), read_json)
        return result

    def push_batch(self, entries: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        """Push entries as one JSON Lines batch (``POST /api/v1/entries/batch``); yields each
        entry's result as the province answers it."""
        response = self._send_raw(Call.push_batch(entries), stream=True)
        try:
            yield from read_lines(response.iter_lines())
        finally:
            response.close()

    def certificate(self, number: str) -> dict[str, Any]:
        """A certificate's metadata (``GET /api/v1/certificates/{number}``)."""
        found: dict[str, Any] = self._send(Call.certificate(number), read_json)
        return found

    def pdf(self, number: str) -> bytes:
        """The sealed PDF (``GET /api/v1/certificates/{number}/pdf``)."""
        data: bytes = self._send(Call.certificate(number, "/pdf"), read_bytes)
        return data

    def ofd(self, number: str) -> bytes:
        """The sealed OFD (``GET /api/v1/certificates/{number}/ofd``)."""
        data: bytes = self._send(Call.certificate(number, "/ofd"), read_bytes)
        return data

    def verify(self, document: bytes) -> dict[str, Any]:
        """The province's verdict on a PDF or OFD (``POST /api/v1/verify``)."""
        verdict: dict[str, Any] = self._send(Call.verify(document), read_json)
        return verdict

    def feed_page(
        self, after: str | None = None, authority: str | None = None, limit: int = FEED_PAGE
    ) -> tuple[list[FeedEvent], str]:
        """One page of the change feed: its events and the cursor to resume from."""
        return feed_page(self._send(Call.feed(after, authority, limit), read_json))

    def feed(self, after: str | None = None, authority: str | None = None) -> Iterator[FeedEvent]:
        """Every event of the change feed after ``after``, page by page, until the end."""
        while True:
            events, after = self.feed_page(after, authority)
            if not events:
                return
            yield from events

    def summary(self, authority: str | None = None) -> dict[str, Any]:
        """Per authority, the library's counts and digest (``GET /api/v1/library/summary``)."""
        found: dict[str, Any] = self._send(Call.summary(authority), read_json)
        return found


class AsyncProvinceClient(_Connection):
    """The provincial interface for asyncio: the operations of :class:`ProvinceClient` (same
    parameters), each a coroutine; :meth:`push_batch` and :meth:`feed` are async iterators."""

    _HTTP = httpx.AsyncClient

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncProvinceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send_raw(self, call: Call, *, stream: bool = False) -> httpx.Response:
        with _answering(call):
            async for attempt in tenacity.AsyncRetrying(**self._retry):
                with attempt:
                    response = await self._http.send(call.request(self._http), stream=stream)
                    if stream and response.is_error:
                        await response.aread()
                        await response.aclose()
                    return _judged(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, call: Call, read: Any) -> Any:
        return read(await self._send_raw(call))

    async def push(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(Call.push(entry), read_json)
        return result

    async def push_batch(
        self, entries: Iterable[Mapping[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        response = await self._send_raw(Call.push_batch(entries), stream=True)
        try:
            async for line in response.aiter_lines():
                for result in read_lines([line]):
                    yield result
        finally:
            await response.aclose()

    async def certificate(self, number: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._send(Call.certificate(number), read_json)
        return found

    async def pdf(self, number: str) -> bytes:
        data: bytes = await self._send(Call.certificate(number, "/pdf"), read_bytes)
        return data

    async def ofd(self, number: str) -> bytes:
        data: bytes = await self._send(Call.certificate(number, "/ofd"), read_bytes)
        return data

    async def verify(self, document: bytes) -> dict[str, Any]:
        verdict: dict[str, Any] = await self._send(Call.verify(document), read_json)
        return verdict

    async def feed_page(
        self, after: str | None = None, authority: str | None = None, limit: int = FEED_PAGE
    ) -> tuple[list[FeedEvent], str]:
        return feed_page(await self._send(Call.feed(after, authority, limit), read_json))

    async def feed(
        self, after: str | None = None, authority: str | None = None
    ) -> AsyncIterator[FeedEvent]:
        while True:
            events, after = await self.feed_page(after, authority)
            if not events:
                return
            for event in events:
                yield event

    async def summary(self, authority: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = await self._send(Call.summary(authority), read_json)
        return found
