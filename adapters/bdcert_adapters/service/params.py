"""Query parameters shared by the routes, and their validation: every bad one is named as
``query.<name>`` in a 400 problem document (RFC 9457, :mod:`bdcert_adapters.service.problems`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from litestar.params import Parameter

from bdcert.errors import ValidationError
from bdcert_adapters.service.problems import FieldError, ProblemError, problem

__all__ = [
    "AgreementChoice",
    "Instant",
    "Purpose",
    "moment",
    "query_fields",
    "query_problem",
]

#: 申请事由 (the purpose of a sharing access), optional, logged when given.
Purpose = Annotated[
    str | None, Parameter(description="申请事由, logged when given", max_length=1000)
]
#: The sharing agreement to use.
AgreementChoice = Annotated[
    str | None,
    Parameter(
        description="the agreement to use (default: the active one signed last)", max_length=200
    ),
]
#: A moment as ISO 8601 text with its UTC offset (read with :func:`moment`).
Instant = Annotated[
    str | None, Parameter(description="ISO 8601 with offset, inclusive", max_length=200)
]


def query_problem(exc: ValidationError, names: tuple[str, ...] = ()) -> ProblemError:
    """A 400 problem for an SDK :class:`ValidationError` about query parameters: each field
    named as ``query.<name>`` (only those in ``names`` when some are given: the others are not
    query parameters)."""
    return problem(
        400,
        "validation",
        "invalid input",
        str(exc),
        [
            FieldError(f"query.{p.field}" if not names or p.field in names else p.field, p.message)
            for p in exc.problems
        ],
    )


@contextmanager
def query_fields(*names: str) -> Iterator[None]:
    """Within it, an SDK :class:`ValidationError` becomes :func:`query_problem`'s 400 (every
    field a query parameter, or only ``names``)."""
    try:
        yield
    except ValidationError as exc:
        raise query_problem(exc, names) from exc


def moment(field: str, value: str | None, errors: list[FieldError]) -> datetime | None:
    """The aware time ``value`` (ISO 8601 with a UTC offset) of query parameter ``field``, or
    None when not given; when bad, None and a :class:`FieldError` for ``query.<field>`` appended
    to ``errors``."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        errors.append(FieldError(f"query.{field}", f"{value!r} is not an ISO 8601 time"))
        return None
    if parsed.utcoffset() is None:
        errors.append(
            FieldError(f"query.{field}", f"{value!r} needs a UTC offset (e.g. +08:00 or Z)")
        )
        return None
    return parsed
