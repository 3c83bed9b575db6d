"""The interface plan: a system's HTTP service behaves like the provincial interface (rule
articles 5–7, 10, 12, 14; GB/T 36906 信息验证 / 文件验证; the provincial interface's OpenAPI document, the one
bdcert's service publishes — not the one the system under test publishes, which it could
write as loosely as it likes).

Options read:

- ``--target URL``: the system under test (its base URL; the operations are under
  ``/api/v1``).
- ``--province URL``: the provincial service that takes deposits (归集, ``POST
  /api/v1/collection``).
- ``--token ROLE=TOKEN``: ``clerk`` — a registrar (登记机构 clerk) of the target's authority:
  pushes entries, reads its certificates, the feed, 信息验证 / 文件验证; ``other_clerk`` — a
  registrar of another authority on the target (must be refused on the clerk's certificates
  and entries); ``province`` — a caller allowed to deposit the authority's certificates at the
  province (a registrar of the same authority there, or the platform).
- ``--set KEY=VALUE`` settings, all optional: ``authority`` (登记机构 code; default the
  clerk's, from ``GET /api/v1/whoami``), ``county`` (the 6-digit county code of the run's unit
  numbers; default the authority's code with ``04`` for a trailing ``00``), ``run_id`` (names the
  run in its session; default the time and a random suffix), ``max_request_bytes`` (the target's limit
  of one JSON body, default 1048576: the oversize entry is one byte longer), ``api_prefix``
  (default ``/api/v1``), ``timeout`` (seconds per request, default 120), ``deadline`` (seconds one response
  may take in all, default the timeout), ``max_response_bytes`` (default 64 MiB), ``feed_after`` (a
feed cursor to start reading the change feed from, to spare a long-lived system a read of
its whole feed; default the feed's start).

Each run pushes fresh entries for the authority, shaped like real ones so that a system cannot
tell them apart and behave differently for the kit (业务号 ``{djjg}-{year}-{9 random digits}``,
random unit numbers, holders with valid ID numbers, street addresses, dated now), so the plan can be run again against a long-lived system; it leaves them
there (about ten certificates, one cancelled, one superseded, one under seizure). It asks
信息验证 six times as the clerk: a system that rate-limits registrars must leave room for them.

The checks are in :mod:`.interface_intake` (P-101–F-105, F-114–F-116),
:mod:`.interface_lifecycle` (P-106–P-109), :mod:`.interface_verification` (P-110–F-113) and
here (P-117); the scenario they share in :mod:`.interface_session`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bdcert_conformance.broken.interface import BROKEN
from bdcert_conformance.kit.model import KitUsageError, RunOptions, Verdict, check, failed, passed
from bdcert_conformance.plans import (  # noqa: F401  (importing them registers their checks)
    interface_intake,
    interface_lifecycle,
    interface_verification,
)
from bdcert_conformance.plans.interface_common import NAME, ROLES, memoized
from bdcert_conformance.plans.interface_reference import reference_environment, reference_run
from bdcert_conformance.plans.interface_schema import schema_findings
from bdcert_conformance.plans.interface_session import InterfaceSession

__all__ = [
    "BROKEN",
    "NAME",
    "open_context",
    "problems",
    "reference_environment",
    "reference_run",
]


#: The options this plan reads (others given are a usage error: :func:`kit.runner.run_plan`).
READS = frozenset({"target", "province", "tokens", "settings"})
#: The settings it knows (``--set KEY=VALUE``).
SETTINGS = frozenset(
    {"authority", "county", "run_id", "max_request_bytes", "api_prefix", "timeout", "feed_after"}
)


def problems(options: RunOptions) -> list[str]:
    """Every missing option: ``--target``, ``--province``, the tokens of :data:`ROLES`."""
    out = []
    if not options.target:
        out.append("--target URL is required (the system under test)")
    if not options.province:
        out.append("--province URL is required (the provincial service taking deposits)")
    for role in ROLES:
        if role not in options.tokens:
            out.append(f"--token {role}=TOKEN is required")
    return out


@contextlib.contextmanager
def open_context(options: RunOptions, workdir: Path) -> Iterator[InterfaceSession]:
    """A session with the target and the province (closed at the end).

    :raises KitUsageError: a target cannot be reached or refuses a token
        (:meth:`~.interface_session.InterfaceSession.credential_problems`)."""
    session = InterfaceSession(options)
    try:
        problems = session.credential_problems()
        if problems:
            raise KitUsageError("; ".join(problems))
        yield session
    finally:
        session.close()


def reference_openapi() -> dict[str, Any]:
    """The provincial interface's OpenAPI 3.1 document: what bdcert's service publishes at
    ``/api/v1/openapi.json``, generated from its handlers (no database needed)."""
    from bdcert_adapters.service.app import create_app, openapi_document

    document: dict[str, Any] = openapi_document(create_app(_no_registry))
    return document


def _no_registry() -> Any:
    raise RuntimeError("the reference OpenAPI document needs no registry")


@check(
    "P-117",
    NAME,
    "Every response the plan saw matches the provincial interface's OpenAPI document",
    "OpenAPI 3.1 §4.8.16–4.8.18; JSON Schema 2020-12",
)
@memoized
def schema(ctx: InterfaceSession) -> Verdict:
    """Every response of the target the run collected (all the other checks are run first)
    has a documented status (or ``default``), a documented media type, and a JSON body valid
    against the operation's schema in the provincial interface's OpenAPI document (bdcert's,
    :func:`reference_openapi`). The target's own ``/api/v1/openapi.json`` is not the
    reference: a system could publish one that allows anything."""
    from bdcert_conformance.kit.model import checks_of

    for c in checks_of(NAME):
        if c.id != "P-117":
            with contextlib.suppress(Exception):
                c.func(ctx)
    document = reference_openapi()
    seen = [e for e in ctx.exchanges if e.system == "target"]
    findings = schema_findings(document, seen, ctx.api_prefix)
    if findings:
        return failed(
            f"{len(findings)} of {len(seen)} responses do not match the OpenAPI document", findings
        )
    operations = {(e.method, e.path) for e in seen}
    return passed(
        f"{len(seen)} responses ({len(operations)} distinct requests) match the OpenAPI document"
    )
