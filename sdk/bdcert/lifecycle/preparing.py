"""Rendering and sealing outside the register's write transaction (issue 9).

Sealing may take seconds (a large entry, an HSM, a remote signer). Done inside the transaction
that numbers and files a certificate, it held the register's write lock meanwhile: verification
and lookups (which append to the audit log) waited. A push therefore runs in three steps:

1. **Rehearse**: the entry is accepted in a transaction that is always rolled back; each
   certificate it would issue is recorded as a :class:`Plan` (its number, identifier, face,
   verification URL and issue time) instead of being rendered.
2. **Prepare**: outside any transaction, each plan is rendered and sealed.
3. **File**: the entry is accepted again in the real, short transaction; a certificate whose
   number, identifier, holders and entry are exactly those of a prepared plan takes its sealed
   documents; any other (a concurrent push took the number meanwhile) is rendered and sealed
   there, as before; one whose preparation failed raises that failure again. What is filed is
   therefore always what this transaction decided.

Nothing is stored before step 3, so the crash and backlog guarantees are those of one
transaction: a failure while preparing is raised again by step 3 (an entry whose seal fails
goes to the backlog, rule article 15). Pushes (:func:`bdcert.lifecycle.intake.push`) and
backlog drains (each item) run the three steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import attrs

__all__ = ["Plan", "Preparation", "current", "preparing", "rehearse"]

#: (number, licence identifier, kind, holders, entry fingerprint): what makes a plan the same
#: certificate in the filing transaction.
PlanKey = tuple[Any, ...]


@attrs.define(frozen=True)
class Plan:
    """A certificate the rehearsal would issue: what rendering and sealing it needs.

    :ivar render: renders and seals it: ``() -> (sealed PDF, sealed OFD or None)``.
    """

    key: PlanKey
    token: str
    render: Callable[[], tuple[bytes, bytes | None]]


@attrs.define
class Preparation:
    """One push's rehearsal and its prepared documents.

    :ivar now: the issue time, the same in the rehearsal and the filing transaction.
    :ivar rehearsing: True during step 1 (plans are recorded, nothing is rendered).
    :ivar documents: plan key -> (token, sealed PDF, sealed OFD or None), from step 2.
    :ivar failures: plan key -> what rendering or sealing it raised in step 2.
    """

    now: datetime
    rehearsing: bool = True
    plans: list[Plan] = attrs.Factory(list)
    documents: dict[PlanKey, tuple[str, bytes, bytes | None]] = attrs.Factory(dict)
    failures: dict[PlanKey, Exception] = attrs.Factory(dict)

    def prepare(self) -> None:
        """Step 2: render and seal every plan, outside any transaction. The first failure
        stops it; the filing transaction raises it again, unchanged, when it reaches that
        certificate (so a failing seal provider is asked once, and the failure is handled
        where it always was: a problem of the entry, or the backlog)."""
        self.rehearsing = False
        for plan in self.plans:
            try:
                pdf, ofd = plan.render()
            except Exception as exc:
                self.failures[plan.key] = exc
                return
            self.documents[plan.key] = (plan.token, pdf, ofd)


_CURRENT: ContextVar[Preparation | None] = ContextVar("bdcert_preparation", default=None)


def current() -> Preparation | None:
    """The preparation of the push running in this context, if any."""
    return _CURRENT.get()


@contextmanager
def preparing(preparation: Preparation) -> Iterator[Preparation]:
    """Make ``preparation`` the current one for the ``with`` block."""
    token = _CURRENT.set(preparation)
    try:
        yield preparation
    finally:
        _CURRENT.reset(token)


class _Rehearsed(Exception):
    """Rolls a rehearsal's transaction back."""


def rehearse(storage: Any, now: datetime, step: Callable[[Any], object]) -> Preparation:
    """Steps 1 and 2: run ``step(tx)`` (what the filing transaction will run) in a transaction
    of ``storage`` that is always rolled back, recording the certificates it would issue; then
    render and seal them outside any transaction. Whatever fails in the rehearsal is left to
    the filing transaction, which meets it again where it always did.

    :param now: the issue time of both transactions.
    """
    preparation = Preparation(now=now)
    try:
        with preparing(preparation), storage.transaction() as tx:
            step(tx)
            raise _Rehearsed
    except _Rehearsed:
        pass
    except Exception:  # the filing transaction meets it again and reports it
        preparation.plans.clear()
    preparation.prepare()
    return preparation
