"""The public verification page (rule article 14): what a QR code opens, and an upload form.

Server-rendered HTML in Chinese for a phone, without JavaScript; every value from a certificate
or an upload goes through Jinja2 with autoescaping on (``templates/*.html``).

- ``GET {prefix}{token}`` — the certificate's status in the register in plain words, with its
  face values masked as for anybody (:meth:`~bdcert.lifecycle.Registry.lookup`, anonymous,
  counted per remote address: 429 page beyond ``[lookup] max_lookups``), and the plain warning
  that a status page does not prove a paper or file genuine; 404 page for an unknown token.
- ``GET {prefix}`` — the upload form (``multipart/form-data``, field ``file``, PDF or OFD);
  ``GET /`` redirects to it (302) when the prefix is not the root.
- ``POST {prefix}check`` — the upload checked by :meth:`~bdcert.lifecycle.Registry.verify` (PAdES
  or SM2 PDF, or OFD) and shown check by check
  (:func:`bdcert.verify.report.report_from_verdict`: the sentences live there); 400 page for a
  file that is not a document or a form without a file, 413 page beyond ``[service]
  max_upload_bytes``.

``{prefix}`` is the path of the workspace's ``verification_base_url`` (the demo's
``https://verify.bdcert.invalid/v/`` → ``/v/``), read from the registry on each request (the
routes are mounted before the worker opens its registry): the routes catch every root path no
other route claims (Litestar prefers a fixed path to a path parameter) and answer those outside
the prefix with the service's ordinary 404 problem. Pages are sent with a Content-Security-Policy allowing no
script, ``Referrer-Policy: no-referrer`` (the token must not leak to other sites) and
``Cache-Control: no-store``.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import jinja2
from litestar import MediaType, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from bdcert.errors import TooManyAttempts
from bdcert.model import CHINA_TZ, Certificate, VerdictCode
from bdcert.verify.report import VerificationReport, report_from_verdict
from bdcert_adapters.service.auth import registry_of

__all__ = ["DISCLAIMER", "PUBLIC_ROUTES", "ROUTES"]

#: Said on every status page: the register's status is not proof of a paper or file.
DISCLAIMER = (
    "本页面仅显示不动产登记簿中该证书的当前状态，不能证明您手中的纸质证书或电子文件是真实的。"
    "要核验文件，请在下方上传电子证照文件。"
)

#: Multipart framing allowed beyond ``max_upload_bytes`` (boundaries, part headers).
_FRAMING_BYTES = 64 * 1024

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("bdcert_adapters.service", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

#: The status page's badge and tone for each ``register`` check code of the report.
_STATUS_BADGES = {
    "in_force": ("有效", "ok"),
    "restricted": ("有效 · 已查封", "warn"),
    "superseded": ("已失效", "bad"),
    "cancelled": ("已注销", "bad"),
}


def _render(
    request: Request[Any, Any, Any],
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> Response[str]:
    base = _base_path(request)
    html = _ENV.get_template(template).render(
        form_url=base + "/", check_url=base + "/check", **values
    )
    return Response(
        html,
        status_code=status,
        media_type=MediaType.HTML,  # Litestar adds "; charset=utf-8"
        headers={**_HEADERS, **(headers or {})},
    )


def _base_path(request: Request[Any, Any, Any]) -> str:
    """The path of ``verification_base_url`` without its trailing slash (``/v``; ``""`` at the
    root)."""
    return str(urlsplit(registry_of(request).verification_base_url).path).rstrip("/")


def _where(request: Request[Any, Any, Any]) -> tuple[str, str]:
    """(``form`` | ``check`` | ``token``, the token) of the request's path.

    :raises NotFoundException: outside the prefix (the service's ordinary 404 problem).
    """
    base = _base_path(request)
    path = str(request.scope["path"])
    if path.rstrip("/") == base:
        return "form", ""
    if path.startswith(base + "/"):
        rest = path[len(base) + 1 :]
        if rest and "/" not in rest:
            return ("check" if rest == "check" else "token"), rest
    raise NotFoundException()


def _client(request: Request[Any, Any, Any]) -> str:
    client = request.client
    return f"address:{client.host if client else 'unknown'}"


def _china_time(value: datetime) -> str:
    return value.astimezone(CHINA_TZ).strftime("%Y年%m月%d日 %H:%M")


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{math.ceil(n / 1024)} KB"


def _face_rows(cert: Certificate) -> list[tuple[str, str]]:
    rows = [(item.label, item.value) for item in cert.face if item.value.strip()]
    rows.append(("电子证照标识", cert.licence_id))
    return rows


def _status_page(request: Request[Any, Any, Any], token: str) -> Response[str]:
    registry = registry_of(request)
    try:
        verdict = registry.lookup(token=token, client=_client(request))
    except TooManyAttempts as exc:
        return _too_many(request, exc)
    cert = verdict.certificate
    if verdict.code is VerdictCode.UNKNOWN_CERTIFICATE or cert is None:
        return _render(
            request,
            "error.html",
            404,
            title="未查询到该证书",
            badge="未登记",
            tone="none",
            message="不动产登记簿中没有登记与此二维码对应的证书。",
            note="请确认二维码或链接完整无误。没有登记记录的证书不是登记机构发放的有效证书。",
            disclaimer=None,
        )
    register = report_from_verdict(verdict).check("register")
    badge, tone = _STATUS_BADGES.get(register.code, ("状态未知", "none"))
    return _render(
        request,
        "status.html",
        title="证书状态",
        badge=badge,
        tone=tone,
        sentence=register.sentence,
        disclaimer=DISCLAIMER,
        kind_title=cert.kind.title,
        rows=_face_rows(cert),
        asked_at=_china_time(registry.clock()),
    )


def _too_many(request: Request[Any, Any, Any], exc: TooManyAttempts) -> Response[str]:
    until = exc.locked_until
    headers: dict[str, str] = {}
    note = "请稍后再试。"
    if until is not None:
        seconds = max(1, math.ceil((until - registry_of(request).clock()).total_seconds()))
        headers["Retry-After"] = str(seconds)
        note = f"请于 {_china_time(until)}（北京时间）之后再试。"
    return _render(
        request,
        "error.html",
        429,
        headers,
        title="查询过于频繁",
        badge="请稍后再试",
        tone="warn",
        message="为保护权利人的信息，每个网络地址在一段时间内只能查询有限次数，您已达到上限。",
        note=note,
        disclaimer=None,
    )


def _rate_limited(request: Request[Any, Any, Any]) -> Response[str] | None:
    """The service's per-client rate limit (:class:`~bdcert_adapters.service.limits.RateLimiter`,
    ``[service] rate_limit`` per ``rate_window_seconds``, the bucket of the caller's address as
    for an anonymous ``/api/v1`` request) applied to an upload: None when allowed, else the 429
    page with ``Retry-After``."""
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return None
    retry_after = limiter.hit(_client(request))
    if retry_after is None:
        return None
    from bdcert_adapters.service import metrics

    metrics.record_rate_limited()
    return _render(
        request,
        "error.html",
        429,
        {"Retry-After": str(retry_after)},
        title="核验过于频繁",
        badge="请稍后再试",
        tone="warn",
        message="每个网络地址在一段时间内只能核验有限次数，您已达到上限。",
        note=f"请于 {retry_after} 秒之后再试。",
        disclaimer=None,
    )


def _error(
    request: Request[Any, Any, Any], status: int, title: str, message: str, note: str | None = None
) -> Response[str]:
    return _render(
        request,
        "error.html",
        status,
        title=title,
        badge="无法核验",
        tone="bad",
        message=message,
        note=note,
        disclaimer=None,
    )


@get(["/", "/{rest:path}"], include_in_schema=False)
async def page(request: Request[Any, Any, Any]) -> Response[Any]:
    """The status page of a QR code's token, or the upload form (see the module docstring)."""
    # async with a thread for the registry: Litestar 2.25 cannot run a sync handler of several
    # paths in a thread (it returns the coroutine unawaited)
    return await anyio.to_thread.run_sync(partial(_page, request))


def _page(request: Request[Any, Any, Any]) -> Response[Any]:
    if request.scope["path"] == "/" and _base_path(request):  # the site's root: to the form
        return Redirect(_base_path(request) + "/", status_code=302)
    where, token = _where(request)
    if where == "token":
        return _status_page(request, token)
    limit = request.app.state.settings.max_upload_bytes
    return _render(request, "form.html", title="核验电子证照文件", limit=_size(limit))


def _too_large(request: Request[Any, Any, Any], limit: int) -> Response[str]:
    return _error(
        request,
        413,
        "文件过大",
        f"上传的文件超过了 {_size(limit)} 的上限，无法核验。",
        "不动产登记电子证照文件通常只有几百 KB，请确认上传的是登记机构发放的证照文件。",
    )


class _Upload:
    """The form's ``file`` part, parsed as the body streams in (``multipart``, the parser
    Litestar itself uses), at most ``limit`` bytes kept.

    :ivar name: the part's file name once the part ended; None before (or without a part).
    :ivar data: its bytes.
    :ivar too_large: the part exceeded ``limit`` (its bytes are dropped).
    """

    def __init__(self, boundary: str, limit: int) -> None:
        from multipart import PushMultipartParser

        self.parser = PushMultipartParser(boundary, max_segment_count=8)
        self.limit = limit
        self.name: str | None = None
        self.data = bytearray()
        self.too_large = False
        self._segment: Any = None

    def feed(self, chunk: bytes) -> None:
        """Parse ``chunk`` of the body; ``b""`` ends it.

        :raises multipart.ParserError: for a body that is not a well-formed form.
        """
        from multipart import MultipartSegment

        for event in self.parser.parse(chunk):
            if isinstance(event, MultipartSegment):
                self._segment = event
            elif self._segment is None or self._segment.name != "file" or self.name is not None:
                continue  # another field, or a second file part: ignored
            elif event:
                self.data.extend(event)
                if len(self.data) > self.limit:
                    self.too_large = True
                    self.data.clear()
            else:  # None: the end of the part
                self.name = self._segment.filename or ""
        if chunk == b"":
            self.parser.close()


@post(["/", "/{rest:path}"], include_in_schema=False, request_max_body_size=None, status_code=200)
async def check(request: Request[Any, Any, Any]) -> Response[str]:
    """Verify an uploaded PDF or OFD and show each check (see the module docstring)."""
    from multipart import ParserError

    where, _ = _where(request)
    if where != "check":
        raise NotFoundException()
    refused = _rate_limited(request)
    if refused is not None:
        return refused
    limit: int = request.app.state.settings.max_upload_bytes
    content_type, options = request.content_type
    if content_type != "multipart/form-data" or not options.get("boundary"):
        return _error(request, 400, "请通过表单上传文件", "请在核验页面选择文件后提交。")
    if (request.content_length or 0) > limit + _FRAMING_BYTES:
        return _too_large(request, limit)  # refused before reading
    upload = _Upload(options["boundary"], limit)
    received = 0
    try:
        async for chunk in request.stream():
            if chunk:
                received += len(chunk)
                upload.feed(chunk)
                if upload.too_large or received > limit + _FRAMING_BYTES:
                    return _too_large(request, limit)
        upload.feed(b"")
    except ParserError:
        upload.name = None
    if upload.name is None:
        return _error(
            request, 400, "没有收到文件", "请选择要核验的 PDF 或 OFD 电子证照文件后再提交。"
        )
    registry = registry_of(request)
    verdict = await anyio.to_thread.run_sync(partial(registry.verify, bytes(upload.data)))
    report = report_from_verdict(verdict, name=upload.name or None)
    if verdict.code is VerdictCode.NOT_PDF:
        return _error(
            request,
            400,
            "不是电子证照文件",
            f"{report.summary}。",
            "请上传登记机构发放的不动产权证书或不动产登记证明电子文件（.pdf 或 .ofd）。",
        )
    cert = verdict.certificate if verdict.trusted else None
    return _result_page(request, report, cert, upload.name)


def _result_page(
    request: Request[Any, Any, Any],
    report: VerificationReport,
    cert: Certificate | None,
    name: str,
) -> Response[str]:
    """The result page; ``cert`` only for a trusted seal (an untrusted file's claims are not
    repeated)."""
    if report.verdict is VerdictCode.RESTRICTED:
        badge, tone = "真实有效 · 已查封", "warn"
    elif report.ok:
        badge, tone = "真实有效", "ok"
    elif report.verdict in (VerdictCode.SUPERSEDED, VerdictCode.CANCELLED):
        badge, tone = "文件真实 · 证书已失效", "bad"
    elif report.verdict is VerdictCode.NONCONFORMING:
        badge, tone = "文件真实 · 印章不规范", "bad"
    else:
        badge, tone = "核验未通过", "bad"
    rows: list[tuple[str, str]] = []
    if cert is not None:  # no personal data: the uploader has the file's face already
        rows.append(("证号", cert.number))
        djjg = cert.face_value("djjg")
        if djjg:
            rows.append(("登记机构", djjg))
        rows.append(("电子证照标识", cert.licence_id))
        if report.signed_at is not None:
            rows.append(("盖章时间", _china_time(report.signed_at)))
    return _render(
        request,
        "result.html",
        title="文件核验结果",
        report=report,
        badge=badge,
        tone=tone,
        file_name=name or "（未命名）",
        kind_title=cert.kind.title if cert is not None else None,
        rows=rows,
    )


ROUTES: list[Any] = []
PUBLIC_ROUTES: list[Any] = [page, check]
