"""RFC 9457 problem documents: every error the service answers, with every bad field named.

A problem is ``application/problem+json``::

    {"type": "https://bdcert.dev/problems/validation", "title": "…", "status": 400,
     "detail": "…", "errors": [{"field": "qlr[0].zjh", "message": "…"}]}

:func:`exception_handlers` maps bdcert's exceptions (:mod:`bdcert.errors`) and Litestar's own
HTTP errors to problems; an unexpected exception is a 500 problem without internals (logged).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import attrs
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from bdcert.errors import (
    BdcertError,
    ConfigurationError,
    IdempotencyConflict,
    IdentityError,
    NotFound,
    PermissionDenied,
    SealingError,
    StorageError,
    TooManyAttempts,
    ValidationError,
)

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "FieldError",
    "Problem",
    "ProblemError",
    "exception_handlers",
    "from_exception",
    "handle",
    "problem",
    "render",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
_BASE = "https://bdcert.dev/problems/"
log = logging.getLogger("bdcert.service")


@attrs.define(frozen=True)
class FieldError:
    """One bad field: its path in the request (``qlr[0].zjh``, ``query.purpose``) and why."""

    field: str
    message: str


@attrs.define(frozen=True)
class Problem:
    """An RFC 9457 problem document.

    :ivar type: a URI naming the kind of problem (``https://bdcert.dev/problems/<slug>``).
    :ivar errors: for 400 and 409, every bad field.
    :ivar retry_after: for 429 and 503, seconds before trying again.
    """

    type: str
    title: str
    status: int
    detail: str
    errors: tuple[FieldError, ...] = ()
    retry_after: int | None = None


class ProblemError(Exception):
    """Raise from a handler to answer ``problem``."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    retry_after: int | None = None,
) -> ProblemError:
    """A :class:`ProblemError` to raise: ``raise problem(400, "bad-query", …)``."""
    return ProblemError(Problem(_BASE + slug, title, status, detail, tuple(errors), retry_after))


def render(p: Problem, headers: dict[str, str] | None = None) -> Response[Any]:
    body: dict[str, Any] = {
        "type": p.type,
        "title": p.title,
        "status": p.status,
        "detail": p.detail,
    }
    if p.errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in p.errors]
    headers = dict(headers or {})
    if p.retry_after is not None:
        body["retry_after"] = p.retry_after
        headers["Retry-After"] = str(p.retry_after)
    return Response(body, status_code=p.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def from_exception(exc: Exception) -> Problem:
    """The problem for an exception raised while serving a request."""
    if isinstance(exc, ProblemError):
        return exc.problem
    if isinstance(exc, IdempotencyConflict):
        return _p(409, "idempotency-conflict", "ywh already pushed with other content", exc)
    if isinstance(exc, ValidationError):
        errors = tuple(FieldError(pr.field, pr.message) for pr in exc.problems)
        return Problem(_BASE + "validation", "invalid input", 400, str(exc), errors)
    if isinstance(exc, TooManyAttempts):
        return _p(429, "too-many-attempts", "too many attempts", exc)
    if isinstance(exc, PermissionDenied):
        return _p(403, "forbidden", "not allowed", exc)
    if isinstance(exc, IdentityError):
        return _p(401, "unauthenticated", "authentication failed", exc)
    if isinstance(exc, NotFound):
        return _p(404, "not-found", "not found", exc)
    if isinstance(exc, SealingError):
        return _p(503, "sealing-unavailable", "sealing is unavailable", exc)
    if isinstance(exc, StorageError | ConfigurationError):
        log.error("storage or configuration failure: %s", exc)
        return _p(503, "unavailable", "the register is unavailable", exc)
    if isinstance(exc, BdcertError):
        return _p(422, "unprocessable", "the request could not be processed", exc)
    if isinstance(exc, ValidationException):
        errors = tuple(
            _litestar_error(e)
            for e in (exc.extra if isinstance(exc.extra, list) else [])
            if isinstance(e, dict)
        )
        return Problem(_BASE + "validation", "invalid input", 400, exc.detail, errors)
    if isinstance(exc, NotFoundException):
        return Problem(_BASE + "not-found", "not found", 404, "no such resource")
    if isinstance(exc, HTTPException):
        slug = {405: "method-not-allowed", 413: "too-large", 429: "rate-limited"}.get(
            exc.status_code, "http-error"
        )
        return Problem(_BASE + slug, exc.detail, exc.status_code, exc.detail)
    if isinstance(exc, RecursionError | UnicodeDecodeError):  # a body nested too deep, not UTF-8
        return Problem(
            _BASE + "malformed-json",
            "malformed JSON",
            400,
            "the body is not JSON this service reads (not UTF-8, or nested too deeply)",
        )
    log.exception("internal error", exc_info=exc)
    return Problem(_BASE + "internal", "internal error", 500, "an internal error; it is logged")


def _p(status: int, slug: str, title: str, exc: Exception) -> Problem:
    retry_after = None
    if isinstance(exc, TooManyAttempts) and exc.locked_until is not None:
        from datetime import UTC, datetime

        retry_after = max(1, int((exc.locked_until - datetime.now(UTC)).total_seconds()) + 1)
    errors = tuple(FieldError(p.field, p.message) for p in getattr(exc, "problems", ()))
    return Problem(_BASE + slug, title, status, str(exc), errors, retry_after)


#: Litestar's wording of a parameter of the wrong type, and ours.
_EXPECTED = re.compile(r"Expected `(\w+)`, got `\w+`")
_TYPE_WORDS = {
    "int": "must be an integer",
    "float": "must be a number",
    "bool": "must be true or false",
}


def _litestar_error(e: dict[str, Any]) -> FieldError:
    """A Litestar validation error (``{"key", "source", "message"}``) as our field error: a
    parameter is ``query.<key>`` (``header.``, ``path.``, ``cookie.``), its message ours."""
    key, message = e.get("key"), str(e.get("message"))
    source = getattr(e.get("source"), "value", e.get("source"))  # a ParamType, or a string
    field = f"{source}.{key}" if key and source in {"query", "header", "path", "cookie"} else None
    expected = _EXPECTED.fullmatch(message)
    if expected:
        message = _TYPE_WORDS.get(expected[1], f"must be of type {expected[1]}")
    return FieldError(field or str(key or source or "body"), message)


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException) and exc.headers:  # e.g. Allow with a 405
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
    return render(from_exception(exc), headers)


def exception_handlers() -> dict[int | type[Exception], Any]:
    """Litestar ``exception_handlers``: every exception becomes a problem document."""
    return {Exception: handle, HTTPException: handle}
