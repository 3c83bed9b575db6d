"""Rendering and sealing never hold the register's write lock (issue 9): while a seal is slow
(an HSM, a remote signer, a large entry), verification and lookups answer.

The slow seal is a provider that blocks on a :class:`threading.Event` until the test releases
it: no sleeps, no timed assertions (a generous join timeout only keeps a regression from hanging
the suite). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bdcert.errors import SealingError
from bdcert.lifecycle import Registry
from bdcert.model import Outcome, VerdictCode
from bdcert.protocols import SealRequest

#: Only so that a regression fails instead of hanging the test run; nothing is timed.
HANG = 120.0


class BlockingSeal:
    """The workspace's provider, each PDF seal waiting for ``release`` after saying ``entered``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.entered = threading.Event()
        self.release = threading.Event()
        self.down = False  # fail at once instead (an outage: the entry goes to the backlog)

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        if self.down:
            raise SealingError("the HSM does not answer (injected outage)")
        self.entered.set()
        assert self.release.wait(HANG), "the test never released the seal"
        return self.inner.seal_pdf(pdf, request)  # type: ignore[no-any-return]

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        return self.inner.signer_certificate_pem(authority_code)  # type: ignore[no-any-return]


def test_verify_and_lookup_answer_while_a_seal_is_in_progress(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    first, second = timeline[0], timeline[1]
    with Registry.open(workspace.path) as reader:
        platform = reader.authenticate({"operator": "platform"})
        issued = reader.push(first, principal=platform)
        genuine = issued.certificates[0].pdf
    outcome: dict[str, Any] = {}
    with Registry.open(workspace.path) as pusher, Registry.open(workspace.path) as reader:
        slow = BlockingSeal(pusher.seal_provider)
        pusher.seal_provider = slow
        pusher.checkpointer.seal_provider = slow

        def push() -> None:
            try:
                outcome["result"] = pusher.push(
                    second, principal=pusher.authenticate({"operator": "platform"})
                )
            except BaseException as exc:  # reported below
                outcome["error"] = exc

        def read() -> None:
            outcome["verdict"] = reader.verify(genuine)
            outcome["lookup"] = reader.lookup(number=issued.numbers[0], name=first["qlr"][0]["mc"])

        pushing = threading.Thread(target=push)
        pushing.start()
        try:
            assert slow.entered.wait(HANG), outcome
            reading = threading.Thread(target=read)
            reading.start()
            reading.join(HANG)
            answered = not reading.is_alive()
        finally:
            slow.release.set()
            pushing.join(HANG)
        assert answered, "verify/lookup waited for the seal: the write lock was held"
        assert outcome["verdict"].code is VerdictCode.VALID
        assert outcome["lookup"].code is VerdictCode.VALID
        assert "error" not in outcome, outcome
        assert outcome["result"].outcome is Outcome.ISSUED


def test_a_number_taken_while_preparing_is_sealed_again_in_the_transaction(
    workspace: Any, timeline: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another push takes the prepared number between the rehearsal and the filing: the
    prepared documents (with the old number on their face) are not filed; the certificate gets
    the next number and documents sealed for it."""
    from bdcert.lifecycle import preparing

    first, second = timeline[0], timeline[1]
    with Registry.open(workspace.path) as pusher, Registry.open(workspace.path) as other:
        prepare = preparing.Preparation.prepare

        def then_another_push(self: preparing.Preparation) -> None:
            prepare(self)
            monkeypatch.setattr(preparing.Preparation, "prepare", prepare)  # once
            other.push(second, principal=other.authenticate({"operator": "platform"}))

        monkeypatch.setattr(preparing.Preparation, "prepare", then_another_push)
        result = pusher.push(first, principal=pusher.authenticate({"operator": "platform"}))
        (cert,) = result.certificates
        assert cert.certificate.number.endswith("第0000002号"), cert.certificate.number
        verdict = pusher.verify(cert.pdf)
        assert verdict.code is VerdictCode.VALID, verdict.detail
        assert verdict.certificate is not None
        assert verdict.certificate.number == cert.certificate.number
        assert (
            other.lookup(number=cert.certificate.number, name=first["qlr"][0]["mc"]).code
            is VerdictCode.VALID
        )


def test_verify_and_lookup_answer_while_the_backlog_drains(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """The backlog's drain seals outside its transactions too."""
    first, second = timeline[0], timeline[1]
    with Registry.open(workspace.path) as setup:
        platform = setup.authenticate({"operator": "platform"})
        issued = setup.push(first, principal=platform)
    outcome: dict[str, Any] = {}
    with Registry.open(workspace.path) as pusher, Registry.open(workspace.path) as reader:
        slow = BlockingSeal(pusher.seal_provider)
        pusher.seal_provider = slow
        pusher.checkpointer.seal_provider = slow
        platform = pusher.authenticate({"operator": "platform"})
        slow.down = True
        assert pusher.push(second, principal=platform).outcome is Outcome.BACKLOGGED
        slow.down = False

        def drain() -> None:
            try:
                outcome["report"] = pusher.drain_backlog(principal=platform, force=True)
            except BaseException as exc:  # reported below
                outcome["error"] = exc

        def read() -> None:
            outcome["verdict"] = reader.verify(issued.certificates[0].pdf)
            outcome["lookup"] = reader.lookup(number=issued.numbers[0], name=first["qlr"][0]["mc"])

        draining = threading.Thread(target=drain)
        draining.start()
        try:
            assert slow.entered.wait(HANG), outcome
            reading = threading.Thread(target=read)
            reading.start()
            reading.join(HANG)
            answered = not reading.is_alive()
        finally:
            slow.release.set()
            draining.join(HANG)
        assert answered, "verify/lookup waited for the drain's seal: the write lock was held"
        assert outcome["verdict"].code is VerdictCode.VALID
        assert outcome["lookup"].code is VerdictCode.VALID
        assert "error" not in outcome, outcome
        assert outcome["report"].issued == 1 and outcome["report"].waiting == 0
