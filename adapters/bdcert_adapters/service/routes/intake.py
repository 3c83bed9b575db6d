"""Pushing registration-book entries after 登簿 (rule article 7): one at a time
(``POST /api/v1/entries``) or as a JSON Lines batch (``POST /api/v1/entries/batch``).

An entry is the JSON object ``bdcert issue`` reads (``adapters/bdcert_adapters/examples/
sichuan-2024.jsonl``), parsed by :func:`bdcert.wire.loads` (a key given twice is refused) and
pushed by :meth:`bdcert.lifecycle.Registry.push`: a registrar pushes only for its own authority,
the platform for every one. A push is idempotent by ``ywh``: the same entry again answers its
first result as ``replayed`` (the same numbers), other content under the same ``ywh`` is a 409.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
from litestar import Request, Response, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.response import Stream
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send

from bdcert.model import Outcome, Principal
from bdcert.wire import DuplicateKeyError, loads
from bdcert_adapters.entry_lines import issue_line
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.problems import FieldError, problem
from bdcert_adapters.service.settings import ServiceSettings
from bdcert_adapters.service.wire import IssueResultView, issue_result_view

__all__ = ["BATCH_MEDIA_TYPES", "ROUTES"]

#: The media types a batch is accepted in (one JSON object per line).
BATCH_MEDIA_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")
#: The status of each outcome of a single push.
_STATUS = {
    Outcome.ISSUED: 201,
    Outcome.NONE: 200,
    Outcome.REPLAYED: 200,
    Outcome.BACKLOGGED: 202,
}
_ENTRY_EXAMPLE = {
    "ywh": "510100-2024-000101",
    "djjg": "510100",
    "djlx": "100",
    "qllx": "4",
    "dbsj": "2024-03-05T10:21:00+08:00",
    "bdcdyh": ["510104001001GB00001F00010001"],
    "zl": "成都市锦江区东大街下东大街段199号1栋2单元1201号",
    "qlr": [{"mc": "王晓明", "zjzl": "1", "zjh": "510104198503120176"}],
    "gyfs": "0",
}


@dataclass
class _EntryOperation(Operation):
    """The OpenAPI operation of :func:`push_entry`: its body is read raw (to refuse a key given
    twice), so its schema is stated here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description=(
                "The entry as JSON (keys of the registration database: ywh, djjg, djlx, dbsj, "
                "bdcdyh, zl, qlr, …), as `bdcert issue` reads one line; a key given twice is "
                "refused."
            ),
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.OBJECT, title="registration-book entry"),
                    examples={"entry": Example(value=_ENTRY_EXAMPLE)},
                )
            },
        )


@post(
    "/entries",
    summary="Push one registration-book entry",
    tags=["intake"],
    status_code=201,
    operation_class=_EntryOperation,
    response_headers=[ResponseHeader(name="Location", documentation_only=True,
                                     description="201: the first certificate's metadata")],
    responses={
        200: ResponseSpec(IssueResultView, description="none (注销/查封) or replayed"),
        202: ResponseSpec(IssueResultView, description="backlogged (rule article 15)"),
        400: ResponseSpec(None, description="invalid: every bad field; nothing stored"),
        403: ResponseSpec(None, description="a registrar of another authority"),
        409: ResponseSpec(None, description="this ywh was pushed before with other content"),
    },
)  # fmt: skip
async def push_entry(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Response[IssueResultView]:
    """Validate the entry, then number, render, seal and file its certificates in one
    transaction (rule articles 5–7, 10), or record its 注销 / 查封.

    - **201** ``issued``: the certificates' numbers, e-licence identifiers and links to their PDFs;
    - **200** ``none`` (注销 or 查封: no certificate) or ``replayed`` (this exact entry was
      pushed before: its first result, the same numbers);
    - **202** ``backlogged``: accepted while sealing is impossible (rule article 15); issued
      later in order;
    - **400** problem: not JSON, or invalid, naming every bad field (``qlr[0].zjh``); nothing is
      stored and no number is used;
    - **401** without credentials; **403** for a registrar of another authority;
    - **409** problem: this ``ywh`` was pushed before with other content;
    - **503** problem: the register or sealing is unavailable.
    """
    data = await request.body()
    try:
        raw = loads(data.decode("utf-8"))
    except DuplicateKeyError as exc:
        errors = [FieldError(k, "is given more than once") for k in exc.keys]
        raise problem(400, "validation", "invalid input", str(exc), errors) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise problem(
            400,
            "malformed-json",
            "the body is not a JSON object",
            f"the body must be one JSON object in UTF-8: {exc}",
            [FieldError("body", f"not JSON: {exc}")],
        ) from exc
    if not isinstance(raw, dict):
        raise problem(
            400,
            "validation",
            "invalid input",
            "the entry must be a JSON object",
            [FieldError("body", f"is a JSON {type(raw).__name__}, not an object")],
        )
    registry = registry_of(request)
    result = await anyio.to_thread.run_sync(partial(registry.push, raw, principal=principal))
    view = issue_result_view(result)
    status = _STATUS.get(result.outcome, 200)
    location = {"Location": view.certificates[0].certificate} if status == 201 else {}
    return Response(view, status_code=status, headers=location)


class _DuplexStreamingResponse(ASGIStreamingResponse):
    """A streamed response whose iterator reads the request body while the response is sent.

    Litestar's streamed response listens for a disconnect by calling ``receive`` beside the
    iterator and would swallow the request body's chunks; here only the iterator receives (a
    disconnect it sees ends the stream)."""

    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        await self._stream(send)


class DuplexStream(Stream):
    """:class:`~litestar.response.Stream` that may read the request body as it streams."""

    __slots__ = ()

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        response = super().to_asgi_response(*args, **kwargs)
        response.__class__ = _DuplexStreamingResponse
        return response


class BatchTooLarge(Exception):
    """The batch went beyond ``[service] max_batch_bytes``."""


async def _request_lines(
    request: Request[Any, Any, Any], limit: int, line_limit: int | None = None
) -> AsyncIterator[tuple[int, bytes | None]]:
    """The request body's lines (1-based line numbers, blank lines skipped), read as the
    client sends them: at most one line is held, and never more than ``limit`` bytes in all.

    A line longer than ``line_limit`` bytes (``[service] max_request_bytes``, the limit of an
    entry pushed alone) is not kept: it is yielded as ``None`` once its newline arrives.

    :raises BatchTooLarge: beyond ``limit`` bytes.
    """
    pending: list[bytes] = []  # the pieces of the line being received
    held = 0  # bytes in pending
    too_long = False  # the line being received passed line_limit: its bytes are dropped
    number = 0
    total = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
        chunk: bytes = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise BatchTooLarge
        *complete, rest = chunk.split(b"\n")
        for i, piece in enumerate(complete):
            line = b"".join([*pending, piece]) if i == 0 else piece
            long_line = (too_long if i == 0 else False) or (
                line_limit is not None and len(line) > line_limit
            )
            number += 1
            if long_line:
                yield number, None
            elif line.strip():
                yield number, line
        if complete:
            pending, held, too_long = [rest], len(rest), False
        else:
            pending.append(rest)
            held += len(rest)
        if line_limit is not None and held > line_limit:
            pending, held, too_long = [], 0, True
        if not message.get("more_body", False):
            break
    last = b"".join(pending)
    if too_long:
        yield number + 1, None
    elif last.strip():
        yield number + 1, last


def _json_line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


@dataclass
class _BatchOperation(Operation):
    """The OpenAPI operation of :func:`push_batch`: a JSON Lines body, read as it arrives."""

    def __post_init__(self) -> None:
        schema = Schema(
            type=OpenAPIType.STRING,
            description="one registration-book entry (a JSON object) per line",
        )
        self.request_body = RequestBody(
            required=True,
            description="registration-book entries, one JSON object per line (JSON Lines)",
            content={m: OpenAPIMediaType(schema=schema) for m in BATCH_MEDIA_TYPES},
        )


@post(
    "/entries/batch",
    operation_class=_BatchOperation,
    summary="Push a batch of entries (JSON Lines in, JSON Lines out)",
    tags=["intake"],
    status_code=200,
    media_type="application/x-ndjson",
    response_description=(
        "One JSON object per input line, in order, as `bdcert issue --json` prints: line, ywh, "
        "outcome (issued, none, replayed, backlogged, rejected, failed), kind, numbers, "
        "supersedes, cancels, restricts, announcements, errors [{field, message}], reason."
    ),
)
async def push_batch(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Stream:
    """Push every entry of a JSON Lines body (``application/x-ndjson`` or ``application/jsonl``;
    one entry per line, as ``bdcert issue`` reads a file), each in its own transaction, in order.

    The body is read line by line as it arrives and each result is sent as soon as its entry is
    processed, so a batch of any length needs memory for one line. A line that fails is a
    result (``rejected`` with every bad field in ``errors``, or ``failed``), never the end of
    the batch. Re-sending a batch after a lost connection is safe: entries already processed
    answer ``replayed`` with their first numbers.

    **413** problem when ``Content-Length`` exceeds ``[service] max_batch_bytes``; a body without
    a length that goes beyond it ends with a last line ``{"outcome": "failed", "errors":
    [{"field": "body", …}]}`` after the results of the lines before (no later line is
    processed). **415** problem for another media type.
    """
    settings: ServiceSettings = request.app.state.settings
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in BATCH_MEDIA_TYPES:
        raise problem(
            415,
            "unsupported-media-type",
            "unsupported media type",
            f"a batch is JSON Lines: Content-Type {' or '.join(BATCH_MEDIA_TYPES)}, "
            f"not {media_type or 'none'}",
            [FieldError("header.content-type", f"must be one of {', '.join(BATCH_MEDIA_TYPES)}")],
        )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > settings.max_batch_bytes:
        raise problem(
            413,
            "too-large",
            "the batch is too large",
            f"the batch has {length} bytes; at most {settings.max_batch_bytes} "
            "([service] max_batch_bytes): send it in parts",
        )
    registry = registry_of(request)

    async def results() -> AsyncIterator[bytes]:
        last = 0
        try:
            async for number, line in _request_lines(
                request, settings.max_batch_bytes, settings.max_request_bytes
            ):
                last = number
                if line is None:
                    yield _json_line(
                        {
                            "line": number,
                            "ywh": None,
                            "outcome": "rejected",
                            "errors": [
                                {
                                    "field": "",
                                    "message": f"the line is longer than "
                                    f"{settings.max_request_bytes} bytes ([service] "
                                    "max_request_bytes, the limit of one entry); not processed",
                                }
                            ],
                        }
                    )
                    continue
                record, _ = await anyio.to_thread.run_sync(issue_line, registry, principal, line)
                yield _json_line({"line": number, **record})
        except BatchTooLarge:
            yield _json_line(
                {
                    "line": last + 1,
                    "ywh": None,
                    "outcome": "failed",
                    "errors": [
                        {
                            "field": "body",
                            "message": f"the batch goes beyond {settings.max_batch_bytes} bytes "
                            "([service] max_batch_bytes); this line and the rest were not "
                            "processed",
                        }
                    ],
                }
            )

    return DuplexStream(results(), media_type="application/x-ndjson")


ROUTES: list[Any] = [push_entry, push_batch]

for _handler in ROUTES:  # the handlers' docstrings are their OpenAPI descriptions
    if _handler.description is None and _handler.fn.__doc__:
        _handler.description = inspect.cleandoc(_handler.fn.__doc__)
