"""What the interface plan's checks share: the plan's name, a check's verdict memoized per
session, and the evidence of an HTTP answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bdcert_conformance.kit.model import Evidence, Verdict, failed, passed
from bdcert_conformance.plans.interface_session import (
    InterfaceSession,
    Pushed,
)

NAME = "interface"
PROPERTY = "property_certificate"
PROOF = "registration_proof"
ROLES = ("clerk", "other_clerk", "province")


def memoized(func: Callable[[InterfaceSession], Verdict]) -> Callable[[InterfaceSession], Verdict]:
    """A check's verdict computed once per session (the schema check runs every check first)."""

    def run(ctx: InterfaceSession) -> Verdict:
        return ctx.once(f"verdict:{func.__name__}", lambda: func(ctx))

    run.__name__ = func.__name__
    run.__qualname__ = func.__qualname__
    run.__doc__ = func.__doc__
    run.__module__ = func.__module__
    return run


def verdict_of(findings: list[Evidence], failing: str, passing: str) -> Verdict:
    """FAILED with every finding, or PASSED saying what was compared."""
    return failed(failing, findings) if findings else passed(passing)


def status_evidence(
    op: str, expected: int | str, response_status: int, body: Any = None
) -> Evidence:
    return Evidence(op, str(expected), str(response_status), note=brief(body))


def brief(body: Any) -> str:
    text = str(body) if body is not None else ""
    return text[:300]


def push_op(pushed: Pushed) -> str:
    return f"POST /entries {pushed.ywh}"
