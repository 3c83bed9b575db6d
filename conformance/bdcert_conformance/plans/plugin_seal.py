"""The plugins plan's seal provider checks (P-211..P-217): the seal contract's checks
(:mod:`bdcert_conformance.seal`) on the contract certificate sealed for every authority, an
unknown authority, and concurrent seals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import attrs

from bdcert_conformance.kit.model import Evidence, Verdict, check, failed, passed
from bdcert_conformance.plans.plugin_subjects import (
    PLAN,
    PluginsContext,
    failing_statement,
    found_text,
)

_SEAL_FILE = "bdcert_conformance/seal.py"


def _each_seal(
    context: PluginsContext, what: str, judge: Callable[[bytes, Any, bytes], None]
) -> Verdict:
    """Run ``judge(unsealed, request, sealed)`` (raising AssertionError) on every authority's
    sealed contract certificate."""
    subject = context.seal
    if subject is None:
        return context.skip("seal")
    findings = []
    for authority in subject.authorities:
        try:
            pdf, request, sealed = subject.sealed(authority)
            judge(pdf, request, sealed)
        except Exception as exc:
            findings.append(
                Evidence(
                    field=f"seal of {authority.code} {authority.name}",
                    expected=what,
                    found=found_text(exc),
                    file=f"contract certificate of {authority.code} (sealed)",
                    page=1,
                    note=failing_statement(exc, _SEAL_FILE),
                )
            )
    codes = ", ".join(a.code for a in subject.authorities)
    if findings:
        return failed(
            f"{len(findings)} of {len(subject.authorities)} seals: not {what} ({subject.source})",
            findings,
        )
    return passed(f"{len(subject.authorities)} seals ({codes}): {what} ({subject.source})")


@check("P-211", PLAN, "seal: exactly one signature, covering the whole file",
       "ISO 32000-2 §12.8.1 (/ByteRange); ETSI EN 319 142-1 (PAdES)")  # fmt: skip
def seal_one_signature(context: PluginsContext) -> Verdict:
    """The sealed certificate holds exactly one signature whose /ByteRange covers every byte but
    its own /Contents (at B-LT/B-LTA: followed only by validation data and document
    timestamps, the last covering the file)."""
    from bdcert_conformance.seal import check_one_signature_covering_the_file

    return _each_seal(
        context,
        "exactly one signature covering the whole file",
        lambda pdf, request, sealed: check_one_signature_covering_the_file(sealed),
    )


@check("P-212", PLAN, "seal: visible at the requested box",
       "规则第7条 (the seal shown on the certificate); ISO 32000-2 §12.7.5.5")  # fmt: skip
def seal_visible(context: PluginsContext) -> Verdict:
    """The signature widget is on the requested page at the requested box (±0.5 pt), not hidden,
    with an appearance drawing the seal picture: an invisible seal is not a seal on the face."""
    from bdcert_conformance.seal import check_visible_seal

    return _each_seal(
        context,
        "a visible seal at the requested box",
        lambda pdf, request, sealed: check_visible_seal(sealed, request),
    )


@check("P-213", PLAN, "seal: certification lock (DocMDP, no changes allowed)",
       "ISO 32000-2 §12.8.2.2 (DocMDP)")  # fmt: skip
def seal_certification_lock(context: PluginsContext) -> Verdict:
    """The seal is a certification signature with DocMDP permission 1 referenced from the
    catalogue's /Perms: any later change to the certificate is a violation validators report."""
    from bdcert_conformance.seal import check_docmdp_lock

    return _each_seal(
        context,
        "a certification seal with DocMDP permission 1",
        lambda pdf, request, sealed: check_docmdp_lock(sealed),
    )


@check("P-214", PLAN, "seal: signing time is the requested one",
       "规则第15条 (a backlogged certificate is sealed with its recording time); ETSI EN 319 142-1 §5.3")  # fmt: skip
def seal_signing_time(context: PluginsContext) -> Verdict:
    """The /M and the CMS signing time are the request's signing time (a past China time), not
    the moment of sealing nor UTC: the certificate's issue time is what the seal claims."""
    from bdcert_conformance.seal import check_signing_time

    def judge(pdf: bytes, request: Any, sealed: bytes) -> None:
        assert request.signing_time is not None
        check_signing_time(sealed, request.signing_time)

    return _each_seal(context, "signed at the requested time", judge)


@check("P-215", PLAN, "seal: signer chains to the trust roots; signer_certificate_pem is it",
       "规则第3条 (seals from the e-seal platform); RFC 5280 §6 (path validation)")  # fmt: skip
def seal_chain(context: PluginsContext) -> Verdict:
    """pyHanko's validator (no fetching): the signed bytes are intact, the signature verifies,
    the signer chains to the trust roots; and ``signer_certificate_pem`` returns that signer's
    certificate, PEM, alone."""
    from bdcert_conformance.seal import check_chains_to_trust_roots, check_signer_certificate_pem

    subject = context.seal

    def judge(pdf: bytes, request: Any, sealed: bytes) -> None:
        assert subject is not None
        check_chains_to_trust_roots(sealed, subject.trust_roots)
        check_signer_certificate_pem(
            sealed, subject.provider.signer_certificate_pem(request.authority.code)
        )

    return _each_seal(context, "chained to the trust roots, its PEM the signer's", judge)


@check("F-216", PLAN, "seal: an authority without a key is a SealingError",
       "bdcert.protocols.SealProvider (SealingError); 规则第15条 (the entry then waits)")  # fmt: skip
def seal_unknown_authority(context: PluginsContext) -> Verdict:
    """Sealing for, and asking the certificate of, an authority the provider has no key for
    raises :class:`bdcert.errors.SealingError` — the error bdcert turns into a backlog entry —
    not another exception and not a seal."""
    from bdcert.errors import SealingError
    from bdcert_conformance.seal import UNKNOWN_AUTHORITY

    subject = context.seal
    if subject is None:
        return context.skip("seal")
    pdf, request = subject.certificate(subject.authorities[0])
    unknown = attrs.evolve(request, authority=UNKNOWN_AUTHORITY)
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("seal_pdf", lambda: subject.provider.seal_pdf(pdf, unknown)),
        (
            "signer_certificate_pem",
            lambda: subject.provider.signer_certificate_pem(UNKNOWN_AUTHORITY.code),
        ),
    ]
    findings = []
    for name, call in calls:
        try:
            result = call()
        except SealingError:
            continue
        except Exception as exc:
            findings.append(
                Evidence(f"{name}({UNKNOWN_AUTHORITY.code})", "SealingError", found_text(exc))
            )
        else:
            findings.append(
                Evidence(
                    f"{name}({UNKNOWN_AUTHORITY.code})",
                    "SealingError",
                    f"returned {type(result).__name__} ({len(result) if isinstance(result, bytes) else '?'} bytes)",
                )
            )
    if findings:
        return failed("an unknown authority is not refused with SealingError", findings)
    return passed(
        f"seal_pdf and signer_certificate_pem for unknown authority {UNKNOWN_AUTHORITY.code} "
        "raised SealingError"
    )


#: How many threads seal at once in P-217.
CONCURRENT_SEALS = 4


@check("P-217", PLAN, "seal: concurrent seals are each valid and each the requested one",
       "bdcert serve seals from a thread pool; ETSI EN 319 142-1 (each seal intact)")  # fmt: skip
def seal_thread_safety(context: PluginsContext) -> Verdict:
    """Several threads seal at once (released together by a barrier), each asking for its own
    signing time: every result must be the sealed certificate it asked for — one signature over
    the whole file, its own signing time, chained to the trust roots. A provider sharing state
    between calls mixes them up or breaks the signatures."""
    from datetime import timedelta

    from bdcert_conformance.seal import (
        check_chains_to_trust_roots,
        check_one_signature_covering_the_file,
        check_signing_time,
    )

    subject = context.seal
    if subject is None:
        return context.skip("seal")
    authority = subject.authorities[0]
    pdf, request = subject.certificate(authority)
    assert request.signing_time is not None
    requests = [
        attrs.evolve(request, signing_time=request.signing_time + timedelta(minutes=i))
        for i in range(CONCURRENT_SEALS)
    ]
    barrier = threading.Barrier(CONCURRENT_SEALS)
    results: list[Any] = [None] * CONCURRENT_SEALS

    def seal(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = subject.provider.seal_pdf(pdf, requests[i])
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=seal, args=(i,)) for i in range(CONCURRENT_SEALS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    findings = []
    for i, (result, asked) in enumerate(zip(results, requests, strict=True)):
        field = f"thread {i + 1} of {CONCURRENT_SEALS} ({authority.code})"
        assert asked.signing_time is not None
        expected = f"a valid seal signed at {asked.signing_time.isoformat()}"
        try:
            if isinstance(result, BaseException):
                raise result
            if not isinstance(result, bytes):
                raise AssertionError(f"seal_pdf gave {type(result).__name__}, not bytes")
            check_one_signature_covering_the_file(result)
            check_signing_time(result, asked.signing_time)
            check_chains_to_trust_roots(result, subject.trust_roots)
        except Exception as exc:
            findings.append(
                Evidence(field, expected, found_text(exc), note=failing_statement(exc, _SEAL_FILE))
            )
    if findings:
        return failed(
            f"{len(findings)} of {CONCURRENT_SEALS} concurrent seals are wrong ({subject.source})",
            findings,
        )
    return passed(
        f"{CONCURRENT_SEALS} threads sealed at once for {authority.code}: each result one "
        f"signature over the file, its own signing time, chained ({subject.source})"
    )
