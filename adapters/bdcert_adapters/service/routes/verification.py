"""Verification over HTTP (rule article 14; GB/T 36906 信息验证 and 文件验证): public
operations, anonymous allowed (a principal given is passed on: names are masked for whoever asks).

- ``POST /api/v1/verify`` — one PDF or OFD: the raw body (``Content-Type: application/pdf``,
  ``application/ofd`` or ``application/octet-stream``), or ``multipart/form-data`` with one
  part named ``file``. Answers a :class:`~bdcert.verify.report.VerificationReport` (200 whenever
  verification ran, a forged or changed file included).
- ``POST /api/v1/verify/batch`` — ``multipart/form-data`` with several ``file`` parts (at most
  :data:`MAX_BATCH_FILES`): one report each, in the order of the parts.
- ``POST /api/v1/checks/information`` — 信息验证: a JSON object of field names and strings
  (``zh``, ``qlr``, ``bdcdyh``, ``zl``, … :func:`bdcert.verify.national.information_check`);
  answers a :class:`~bdcert.verify.national.NationalResult` with the national code 0–6.
- ``POST /api/v1/checks/file`` — 文件验证 of one document (as ``/verify``): national code 0–2.
- ``GET /api/v1/trust-bundle`` — the trust bundle a bank pins (JSON,
  :class:`bdcert.verify.offline.TrustBundle`; its digest also in the ``ETag``).
- ``GET /api/v1/status-snapshot`` — a sealed status snapshot (``application/pdf``,
  :func:`bdcert.verify.offline.make_status_snapshot`). Sealing costs a signature and a
  timestamp: a worker answers the same snapshot for :data:`SNAPSHOT_MAX_AGE_SECONDS` (its time
  is in the file), so callers cannot make it seal on every request.

Errors (RFC 9457 problems): 400 ``not-a-document`` for a body that is neither a PDF (``%PDF-``
in its first 1024 bytes) nor a ZIP package (OFD), 400 ``validation`` naming a missing ``file``
part or a bad information field, 400 ``empty-body``; 413 ``too-large`` beyond ``[service]
max_upload_bytes`` for one document (``max_batch_bytes`` for a batch's whole body, each file
still at most ``max_upload_bytes``), refused while reading, never held whole
(:func:`bdcert_adapters.service.limits.read_upload`); 415 ``unsupported-media-type`` for another
content type; 429 when an anonymous client has had its ``[lookup]`` share of information checks.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from litestar import Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import JSONBody

from bdcert.model import Principal
from bdcert.verify import national
from bdcert.verify.national import NationalResult
from bdcert.verify.report import VerificationReport, verification_report
from bdcert_adapters.service.auth import client_key, registry_of
from bdcert_adapters.service.limits import read_upload
from bdcert_adapters.service.problems import FieldError, problem

__all__ = [
    "MAX_BATCH_FILES",
    "PUBLIC_ROUTES",
    "ROUTES",
    "SNAPSHOT_MAX_AGE_SECONDS",
    "BatchReports",
    "Document",
]

#: The most ``file`` parts one batch may carry.
MAX_BATCH_FILES = 100

_RAW_TYPES = frozenset({"application/pdf", "application/ofd", "application/octet-stream"})


@attrs.define(frozen=True)
class Document:
    """One uploaded document: its bytes and the name it was uploaded under (or None)."""

    data: bytes
    name: str | None = None


@attrs.define(frozen=True)
class BatchReports:
    """:ivar reports: one report per ``file`` part, in the order of the parts."""

    reports: tuple[VerificationReport, ...]


_BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


def _form(files: Schema) -> OpenAPIMediaType:
    return OpenAPIMediaType(
        schema=Schema(type=OpenAPIType.OBJECT, properties={"file": files}, required=["file"])
    )


@dataclasses.dataclass  # so that the generated __init__ calls __post_init__
class _DocumentBody(Operation):
    """The OpenAPI operation of a handler that reads one document itself (no ``data``)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="one PDF or OFD: the raw bytes, or a form with the part 'file'",
            content={
                "application/pdf": OpenAPIMediaType(schema=_BINARY),
                "application/ofd": OpenAPIMediaType(schema=_BINARY),
                "application/octet-stream": OpenAPIMediaType(schema=_BINARY),
                "multipart/form-data": _form(_BINARY),
            },
        )


@dataclasses.dataclass
class _BatchBody(Operation):
    """The OpenAPI operation of the batch: a form with several ``file`` parts."""

    def __post_init__(self) -> None:
        files = Schema(type=OpenAPIType.ARRAY, items=_BINARY, max_items=MAX_BATCH_FILES)
        self.request_body = RequestBody(
            required=True,
            description="several PDF or OFD documents, each a part named 'file'",
            content={"multipart/form-data": _form(files)},
        )


def _media_type(request: Request[Any, Any, Any]) -> tuple[str, dict[str, str]]:
    from litestar._multipart import parse_content_header

    return parse_content_header(request.headers.get("content-type", ""))


def _is_document(data: bytes) -> bool:
    return b"%PDF-" in data[:1024] or data[:4] == b"PK\x03\x04"


def _checked(doc: Document, index: int | None = None) -> Document:
    if not _is_document(doc.data):
        where = "" if index is None else f" (part {index + 1}, {doc.name or 'unnamed'})"
        raise problem(
            400,
            "not-a-document",
            "not a document",
            f"the upload{where} is neither a PDF nor an OFD package",
            [FieldError("file" if index is None else f"file[{index}]", "not a PDF or OFD")],
        )
    return doc


def _parts(body: bytes, boundary: str, limit: int, most: int) -> list[Document]:
    """The ``file`` parts of a multipart/form-data body, in order (the ``multipart`` library,
    Litestar's own parser, on bytes already read within the body's limit)."""
    from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

    files: list[Document] = []
    segment: MultipartSegment | None = None
    chunks: list[bytes] = []
    size = 0
    try:
        with PushMultipartParser(boundary.encode("latin-1"), max_segment_count=most + 16) as parser:
            for chunk in (body, b""):
                for item in parser.parse(chunk):
                    if isinstance(item, MultipartSegment):
                        segment, chunks, size = item, [], 0
                    elif item:
                        size += len(item)
                        if segment is not None and segment.name == "file":
                            if size > limit:
                                raise problem(
                                    413,
                                    "too-large",
                                    "document too large",
                                    f"a file is larger than the limit of {limit} bytes",
                                )
                            chunks.append(bytes(item))
                    elif segment is not None:
                        if segment.name == "file":
                            files.append(Document(b"".join(chunks), segment.filename or None))
                        segment = None
    except (ParserError, ParserLimitReached) as exc:
        raise problem(400, "bad-multipart", "unreadable multipart body", str(exc)) from exc
    if len(files) > most:
        raise problem(
            413,
            "too-many-files",
            "too many files",
            f"a batch carries at most {most} files, not {len(files)}",
        )
    return files


async def _documents(request: Request[Any, Any, Any], *, batch: bool) -> list[Document]:
    settings = request.app.state.settings
    media, options = _media_type(request)
    if media == "multipart/form-data":
        boundary = options.get("boundary")
        if not boundary:
            raise problem(
                400, "bad-multipart", "unreadable multipart body", "no multipart boundary"
            )
        limit = settings.max_batch_bytes if batch else settings.max_upload_bytes
        body = await read_upload(request, limit)
        files = _parts(body, boundary, settings.max_upload_bytes, MAX_BATCH_FILES if batch else 1)
        if not files:
            raise problem(
                400,
                "validation",
                "invalid input",
                "no part named 'file'",
                [FieldError("file", "is required: a PDF or OFD document")],
            )
        return [_checked(doc, i if batch else None) for i, doc in enumerate(files)]
    if batch:
        raise problem(
            415,
            "unsupported-media-type",
            "unsupported media type",
            "a batch is multipart/form-data with one part named 'file' per document",
        )
    if media not in _RAW_TYPES:
        raise problem(
            415,
            "unsupported-media-type",
            "unsupported media type",
            f"send the document as application/pdf, application/ofd or multipart/form-data "
            f"(part 'file'), not {media or 'no Content-Type'}",
        )
    return [_checked(Document(await read_upload(request, settings.max_upload_bytes)))]


T = TypeVar("T")


def _record(code: str) -> None:
    try:
        from bdcert_adapters.service.metrics import record_verdict
    except ImportError:  # the metrics module is optional
        return
    record_verdict(code)


def _report(registry: Any, doc: Document, principal: Principal | None) -> VerificationReport:
    report = verification_report(registry, doc.data, principal=principal, name=doc.name)
    _record(report.verdict.value)
    return report


def _upload(path: str, body: type[Operation], summary: str) -> Any:
    """The ``@post`` of a route verifying uploaded documents (200 whatever they prove)."""
    return post(path, operation_class=body, summary=summary, tags=["verification"], status_code=200)


async def _on_documents(
    request: Request[Any, Any, Any], *, batch: bool, run: Callable[[Any, list[Document]], T]
) -> T:
    """``run(registry, documents)`` in a worker thread, on the request's documents."""
    docs = await _documents(request, batch=batch)
    registry = registry_of(request)
    return await sync_to_thread(run, registry, docs)


@_upload("/verify", _DocumentBody, "Verify one certificate file (PDF or OFD)")
async def verify(
    request: Request[Any, Any, Any], optional_principal: NamedDependency[Principal | None]
) -> VerificationReport:
    """The report of one document, check by check (integrity, seal, issuer, register status,
    face values): 200 whenever verification ran, even for a forged file."""

    def run(registry: Any, docs: list[Document]) -> VerificationReport:
        (doc,) = docs
        return _report(registry, doc, optional_principal)

    return await _on_documents(request, batch=False, run=run)


@_upload("/verify/batch", _BatchBody, "Verify several certificate files")
async def verify_batch(
    request: Request[Any, Any, Any], optional_principal: NamedDependency[Principal | None]
) -> BatchReports:
    """One report per ``file`` part of a multipart/form-data body, in order."""

    def run(registry: Any, docs: list[Document]) -> BatchReports:
        return BatchReports(tuple(_report(registry, d, optional_principal) for d in docs))

    return await _on_documents(request, batch=True, run=run)


@post(
    "/checks/information",
    summary="信息验证: are these face values those of a certificate in force?",
    tags=["verification"],
    status_code=200,
    sync_to_thread=True,
)
def check_information(
    request: Request[Any, Any, Any],
    data: JSONBody[dict[str, Any]],
    optional_principal: NamedDependency[Principal | None],
) -> NationalResult:
    """GB/T 36906 信息验证: national code 0 有效, 1 未激活, 2 暂时失效, 3 已失效, 4 信息不全
    (naming the missing fields), 5 查无, 6 参数不一致 (naming the differing fields, never the
    registered value, only to a caller with the full view of the certificate); see :mod:`bdcert.verify.national`."""
    return national.information_check(
        registry_of(request), data, optional_principal, client=client_key(request)
    )


@_upload("/checks/file", _DocumentBody, "文件验证: is this file's seal genuine?")
async def check_file(
    request: Request[Any, Any, Any], optional_principal: NamedDependency[Principal | None]
) -> NationalResult:
    """GB/T 36906 文件验证 of one document (as ``/verify``): 0 文件验证通过, 1 文件签章校验失败,
    2 文件校验失败; see :mod:`bdcert.verify.national`."""

    def run(registry: Any, docs: list[Document]) -> NationalResult:
        (doc,) = docs
        result = national.file_check(registry, doc.data, optional_principal)
        if result.verdict is not None:
            _record(result.verdict.value)
        return result

    return await _on_documents(request, batch=False, run=run)


#: How long a worker answers the same status snapshot before sealing a new one.
SNAPSHOT_MAX_AGE_SECONDS = 60.0
_SNAPSHOT_LOCK = threading.Lock()


@get(
    "/trust-bundle",
    summary="The trust bundle for offline verification",
    tags=["verification"],
    sync_to_thread=True,
    media_type="application/json",
    # the file's exact bytes (its digest names it), documented as the JSON object they are
    responses={
        200: ResponseSpec(
            data_container=dict[str, Any],
            media_type="application/json",
            description="the trust bundle (format, version, made_at, roots, seal "
            "certificates, CRLs, sha256); its digest also in the ETag",
        )
    },
)
def trust_bundle(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The trust roots, seal certificates and CRLs a bank pins, as one versioned JSON file
    named by its SHA-256 (:class:`bdcert.verify.offline.TrustBundle`)."""
    from bdcert.verify.offline import make_trust_bundle

    bundle = make_trust_bundle(registry_of(request))
    return Response(
        bundle.to_json(),
        media_type="application/json",
        headers={
            "ETag": f'"{bundle.sha256}"',
            "Content-Disposition": 'attachment; filename="bdcert-trust-bundle.json"',
        },
    )


@get(
    "/status-snapshot",
    summary="A sealed status snapshot for offline verification",
    tags=["verification"],
    sync_to_thread=True,
    media_type="application/pdf",
)
def status_snapshot(
    request: Request[Any, Any, Any], optional_principal: NamedDependency[Principal | None]
) -> Response[bytes]:
    """The certificates no longer in force (superseded, cancelled) and the restricted ones, as
    of the time in the file, sealed by the ``[audit]`` authority (a PDF carrying the JSON; see
    :mod:`bdcert.verify.offline`). 503 problem when sealing is unavailable."""
    from bdcert.verify.offline import make_status_snapshot

    state = request.app.state
    with _SNAPSHOT_LOCK:
        cached = getattr(state, "bdcert_status_snapshot", None)
        if cached is None or time.monotonic() - cached[0] > SNAPSHOT_MAX_AGE_SECONDS:
            made_by = optional_principal.name if optional_principal else "anonymous"
            pdf = make_status_snapshot(registry_of(request), made_by=made_by)
            cached = (time.monotonic(), pdf)
            state.bdcert_status_snapshot = cached
    return Response(
        cached[1],
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="bdcert-status-snapshot.pdf"'},
    )


ROUTES: list[Any] = [
    verify,
    verify_batch,
    check_information,
    check_file,
    trust_bundle,
    status_snapshot,
]
PUBLIC_ROUTES: list[Any] = []
