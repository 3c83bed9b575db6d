"""The plugins plan: a contract for every hook of bdcert (:mod:`bdcert.hookspecs`), run on the
plugin objects a city system or a vendor provides — storage (P-201..P-207, one check per role
protocol), seal provider (P-211..P-217), identity provider (P-221..P-223), notifier
(P-231..P-234).

What it is run on (``bdcert conformance run --plan plugins``):

``--workspace DIR``
    a bdcert workspace: the plan loads the plugins its ``bdcert.toml`` configures through
    bdcert's plugin manager, as ``Registry.open`` builds them, and checks them:

    - storage: the ``[storage]`` plugin, but NEVER on the workspace's database. For bdcert's own
      ``sql`` plugin the kit makes a new SQLite database in its scratch directory for every
      scenario (``BDCERT_DATABASE_URL`` and ``[storage] url`` are not read); any other storage
      plugin needs ``--set storage=module:function``.
    - seal provider: the ``[seal]`` plugin at the workspace's PAdES level; it seals the contract's
      certificate for every authority of the workspace's authorities file (or only
      ``--set seal_authorities=CODE,CODE``), checked against the workspace's ``trust_roots`` and
      every ``--trust ROOT.pem``.
    - identity: the ``[identity]`` plugin; every ``[identity.operators.NAME]`` (credentials
      ``{"operator": NAME}``) and every ``[identity.tokens.NAME]`` is checked against the roles,
      authority and ID number the file gives it. The file holds only token hashes, so each
      token is given as ``--token NAME=TOKEN`` (NAME is the entry's name; a run without the
      token of every entry is refused). Client-certificate entries are checked only through
      ``identity_cases``.
    - notifiers: every notifier of ``[notifiers] plugins`` whose table has a ``url`` (bdcert's
      ``webhook``, or one with the same settings), built with its own settings except ``url``,
      which points at the kit's receiver on 127.0.0.1, and ``secret_env``, which points at an
      environment variable holding the kit's own secret (the workspace's secret is never read).

``--set KEY=VALUE`` (each replaces what the workspace would give for that hook, or stands alone)
    ``storage=module:function``
        ``function(directory: pathlib.Path) -> Storage``: a NEW, EMPTY store each call (one per
        scenario; ``directory`` is a fresh empty scratch directory it may keep its data in). It
        must not be a production database: the scenarios write, roll back and fill it. The kit
        calls ``close()`` on each.
    ``seal_provider=module:function``
        ``function() -> SealProvider``; with the authorities (``--workspace`` or
        ``authorities=FILE.json``, shaped like bdcert's authorities.json) and the trust roots
        (``--trust``).
    ``identity=module:function``
        ``function() -> IdentityProvider``; with ``identity_cases``.
    ``identity_cases=FILE.json``
        a JSON list of ``{"credentials": {...}, "name": "...", "roles": [...], "authority":
        "510100" | null, "id_number": ... | null}``: credentials and the principal they must
        give (``name`` null: any). Added to the workspace's. Credential values other than
        ``operator`` names and ``client_cert_pem`` are secrets (P-223).
    ``notifier=module:function``
        ``function(url: str, secret: bytes) -> Notifier``: a notifier that POSTs each event to
        ``url`` as bdcert's webhook does (JSON body, ``X-Bdcert-Signature: sha256=<HMAC-SHA256
        of the body keyed with secret>``, ``X-Bdcert-Event``, ``X-Bdcert-Delivery``).
    ``authorities=FILE.json``, ``seal_authorities=CODE,CODE``
        as above.

A hook that neither gives is SKIPPED with the option that would give it (a certification run
fails then). Checks report every finding as evidence.
"""

from __future__ import annotations

import contextlib
import json
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from bdcert_conformance.kit.model import (
    Evidence,
    RunOptions,
    Verdict,
    check,
    failed,
    passed,
    skipped,
)
from bdcert_conformance.plans.plugin_subjects import (
    PluginsContext,
    build_context,
    describe,
    missing_tokens,
    new_secret,
    settings_problems,
)

__all__ = [
    "BROKEN",
    "NAME",
    "ReferenceEnvironment",
    "open_context",
    "problems",
    "reference_environment",
    "reference_run",
]

NAME = "plugins"
_STORAGE_FILE = "bdcert_conformance/storage.py"
_SEAL_FILE = "bdcert_conformance/seal.py"


# --------------------------------------------------------------------------- the plan protocol


def problems(options: RunOptions) -> list[str]:
    """Every missing or bad option, named (empty: the plan can run)."""
    found = settings_problems(options)
    if options.workspace is None and not any(
        k in options.settings for k in ("storage", "seal_provider", "identity", "notifier")
    ):
        found.append(
            "the plugins plan needs --workspace DIR and/or --set storage=/seal_provider=/"
            "identity=/notifier=module:function"
        )
    if options.workspace is not None and not (Path(options.workspace) / "bdcert.toml").is_file():
        found.append(f"--workspace {options.workspace}: no bdcert.toml there")
    else:
        without = missing_tokens(options)
        if without:
            found.append(
                f"--token NAME=TOKEN missing for the workspace's [identity.tokens] "
                f"{', '.join(without)} (every mapping is checked)"
            )
    return found


@contextlib.contextmanager
def open_context(options: RunOptions, workdir: Path) -> Iterator[PluginsContext]:
    """The plugins under test (:func:`~bdcert_conformance.plans.plugin_subjects.build_context`);
    closes the seal provider and identity provider at the end when they are closable."""
    context = build_context(options, workdir)
    try:
        yield context
    finally:
        for part in (context.seal.provider if context.seal else None,):
            close = getattr(part, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()


# --------------------------------------------------------------------------- evidence helpers


def _where(exc: BaseException, file_suffix: str) -> str:
    """The failing statement of ``exc`` inside ``file_suffix`` (else its last frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f.filename.replace("\\", "/").endswith(file_suffix)]
    frame = (inside or frames or [None])[-1]
    if frame is None:
        return ""
    return f"{Path(frame.filename).name} line {frame.lineno}: {(frame.line or '').strip()}"


def _found(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, AssertionError):
        return text or "assertion failed"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _first_line(text: str | None) -> str:
    """The first sentence of a docstring, on one line."""
    return " ".join((text or "").split(". ")[0].split()).rstrip(".")


# --------------------------------------------------------------------------- storage


def _storage_role(context: PluginsContext, role: str) -> Verdict:
    from bdcert_conformance.storage import SCENARIOS

    subject = context.storage
    if subject is None:
        return skipped(f"no storage to check: give {context.missing['storage']}")
    scenarios = SCENARIOS[role]
    findings = []
    for scenario in scenarios:
        directory = context.scratch("storage", f"{role}-{scenario.__name__}")
        store = subject.make(directory)
        try:
            scenario(store)
        except Exception as exc:
            findings.append(
                Evidence(
                    field=f"{role}: {scenario.__name__}",
                    expected=_first_line(scenario.__doc__) or scenario.__name__.replace("_", " "),
                    found=_found(exc),
                    file=_STORAGE_FILE,
                    note=_where(exc, _STORAGE_FILE),
                )
            )
        finally:
            with contextlib.suppress(Exception):
                store.close()
    if findings:
        return failed(
            f"{len(findings)} of {len(scenarios)} {role} scenarios failed ({subject.source})",
            findings,
        )
    names = ", ".join(s.__name__ for s in scenarios)
    return passed(
        f"{len(scenarios)} {role} scenarios passed, each on a new empty store ({subject.source}):"
        f" {names}"
    )


@check("P-201", NAME, "storage: registrations and gap-free numbering (RegistrationRecords)",
       "规则第8条 (certificate numbers: per authority, year and kind, no gaps, no repeats)")  # fmt: skip
def storage_registrations(context: PluginsContext) -> Verdict:
    """The store keeps processed entries (a business number once) and allocates certificate
    sequences per authority, year and kind that a rollback neither skips nor repeats: after
    number 1 is committed and number 2 rolled back, the next is 2 again, never 1."""
    return _storage_role(context, "RegistrationRecords")


@check("P-202", NAME, "storage: certificates, status, PDFs and OFDs (CertificateRecords)",
       "规则第10条, 第14条 (supersession, cancellation, seizure; the filed documents)")  # fmt: skip
def storage_certificates(context: PluginsContext) -> Verdict:
    """Certificates come back as filed; supersession, cancellation, seizures of certificates and
    units, paper dispositions, the OFD, paging through every number, and renewed PDFs that only
    extend the filed one (every earlier digest still found)."""
    return _storage_role(context, "CertificateRecords")


@check("P-203", NAME, "storage: the hash-chained audit log and checkpoints (AuditRecords)",
       "规则第17条 (tamper-evident audit log)")  # fmt: skip
def storage_audit(context: PluginsContext) -> Verdict:
    """Audit events come back in order with intact chain verification; every stored hash is
    recomputed by the kit as sha256(previous hash || canonical event) — a store whose own
    verification agrees with its own broken links is still caught; checkpoint numbers roll back
    without a gap."""
    return _storage_role(context, "AuditRecords")


@check("P-204", NAME, "storage: the outbox of undelivered events (OutboxRecords)",
       "规则第17条; bdcert.protocols.OutboxRecords (at-least-once delivery)")  # fmt: skip
def storage_outbox(context: PluginsContext) -> Verdict:
    """Undelivered events are kept per notifier, oldest first, counted on each failure, removed
    once delivered, and roll back with their transaction (nothing a notifier failed is lost)."""
    return _storage_role(context, "OutboxRecords")


@check("P-205", NAME, "storage: the force-majeure backlog (BacklogRecords)",
       "规则第15条 (entries wait while sealing is impossible, in push order)")  # fmt: skip
def storage_backlog(context: PluginsContext) -> Verdict:
    """Backlog items keep push order per authority, count failures, finish once as issued or
    rejected, roll back with their transaction and refuse times without a UTC offset."""
    return _storage_role(context, "BacklogRecords")


@check("P-206", NAME, "storage: holders and self-download guards (HolderRecords)",
       "规则第13条 (holders' own certificates, self-download)")  # fmt: skip
def storage_holders(context: PluginsContext) -> Verdict:
    """A holder's certificates by exact ID number (no prefix or wildcard match), the
    self-download guards (failures, lockouts, holds) surviving their transaction, and second
    factors per registration."""
    return _storage_role(context, "HolderRecords")


@check("P-207", NAME, "storage: sharing agreements (AgreementRecords)",
       "规则第16条 (sharing under agreements)")  # fmt: skip
def storage_agreements(context: PluginsContext) -> Verdict:
    """Sharing agreements by id and party, ordered by signing date, revoked once."""
    return _storage_role(context, "AgreementRecords")


# --------------------------------------------------------------------------- seal provider


def _each_seal(
    context: PluginsContext, what: str, judge: Callable[[bytes, Any, bytes], None]
) -> Verdict:
    """Run ``judge(unsealed, request, sealed)`` (raising AssertionError) on every authority's
    sealed contract certificate."""
    subject = context.seal
    if subject is None:
        return skipped(f"no seal provider to check: give {context.missing['seal']}")
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
                    found=_found(exc),
                    file=f"contract certificate of {authority.code} (sealed)",
                    page=1,
                    note=_where(exc, _SEAL_FILE),
                )
            )
    codes = ", ".join(a.code for a in subject.authorities)
    if findings:
        return failed(
            f"{len(findings)} of {len(subject.authorities)} seals: not {what} ({subject.source})",
            findings,
        )
    return passed(f"{len(subject.authorities)} seals ({codes}): {what} ({subject.source})")


@check("P-211", NAME, "seal: exactly one signature, covering the whole file",
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


@check("P-212", NAME, "seal: visible at the requested box",
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


@check("P-213", NAME, "seal: certification lock (DocMDP, no changes allowed)",
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


@check("P-214", NAME, "seal: signing time is the requested one",
       "规则第15条 (a backlogged certificate is sealed with its recording time); ETSI EN 319 142-1 §5.3")  # fmt: skip
def seal_signing_time(context: PluginsContext) -> Verdict:
    """The /M and the CMS signing time are the request's signing time (a past China time), not
    the moment of sealing nor UTC: the certificate's issue time is what the seal claims."""
    from bdcert_conformance.seal import check_signing_time

    def judge(pdf: bytes, request: Any, sealed: bytes) -> None:
        assert request.signing_time is not None
        check_signing_time(sealed, request.signing_time)

    return _each_seal(context, "signed at the requested time", judge)


@check("P-215", NAME, "seal: signer chains to the trust roots; signer_certificate_pem is it",
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


@check("F-216", NAME, "seal: an authority without a key is a SealingError",
       "bdcert.protocols.SealProvider (SealingError); 规则第15条 (the entry then waits)")  # fmt: skip
def seal_unknown_authority(context: PluginsContext) -> Verdict:
    """Sealing for, and asking the certificate of, an authority the provider has no key for
    raises :class:`bdcert.errors.SealingError` — the error bdcert turns into a backlog entry —
    not another exception and not a seal."""
    from bdcert.errors import SealingError
    from bdcert_conformance.seal import UNKNOWN_AUTHORITY, render_certificate

    subject = context.seal
    if subject is None:
        return skipped(f"no seal provider to check: give {context.missing['seal']}")
    pdf, request = render_certificate(subject.authorities[0])
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
                Evidence(f"{name}({UNKNOWN_AUTHORITY.code})", "SealingError", _found(exc))
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


@check("P-217", NAME, "seal: concurrent seals are each valid and each the requested one",
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
        render_certificate,
    )

    subject = context.seal
    if subject is None:
        return skipped(f"no seal provider to check: give {context.missing['seal']}")
    authority = subject.authorities[0]
    pdf, request = render_certificate(authority)
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
            findings.append(Evidence(field, expected, _found(exc), note=_where(exc, _SEAL_FILE)))
    if findings:
        return failed(
            f"{len(findings)} of {CONCURRENT_SEALS} concurrent seals are wrong ({subject.source})",
            findings,
        )
    return passed(
        f"{CONCURRENT_SEALS} threads sealed at once for {authority.code}: each result one "
        f"signature over the file, its own signing time, chained ({subject.source})"
    )


# --------------------------------------------------------------------------- identity


@check("P-221", NAME, "identity: every role and authority mapping",
       "规则第11条 (who acts, in which role, for which authority)")  # fmt: skip
def identity_mappings(context: PluginsContext) -> Verdict:
    """Each configured credential authenticates as the principal the configuration gives it:
    the same name, exactly the same roles, the same authority (a registrar of 510700 is never
    one of 510100), the same holder ID number."""
    subject = context.identity
    if subject is None:
        return skipped(f"no identity provider to check: give {context.missing['identity']}")
    findings = []
    for case in subject.cases:
        try:
            got = subject.provider.authenticate(dict(case.credentials))
        except Exception as exc:
            findings.append(Evidence(case.label, case.expected(), _found(exc)))
            continue
        ok = (
            (case.name is None or got.name == case.name)
            and frozenset(got.roles) == case.roles
            and got.authority == case.authority
            and got.id_number == case.id_number
        )
        if not ok:
            findings.append(Evidence(case.label, case.expected(), describe(got)))
    if findings:
        return failed(
            f"{len(findings)} of {len(subject.cases)} credentials map to the wrong principal "
            f"({subject.source})",
            findings,
        )
    roles = sorted({r for c in subject.cases for r in c.roles})
    authorities = sorted({c.authority for c in subject.cases if c.authority})
    return passed(
        f"{len(subject.cases)} credentials, roles {', '.join(roles)}, authorities "
        f"{', '.join(authorities) or 'none'}: each the configured principal ({subject.source})"
    )


def _unknown_credentials(context: PluginsContext) -> list[tuple[str, dict[str, str]]]:
    """Credentials that identify nobody: random and near-miss tokens, an unknown operator, no
    credentials, a malformed certificate."""
    import secrets

    assert context.identity is not None
    cases: list[tuple[str, dict[str, str]]] = [
        ("a random token", {"token": secrets.token_urlsafe(32)}),
        ("an empty token", {"token": ""}),
        ("an unknown operator", {"operator": "bdcert-conformance-nobody"}),
        ("no credentials", {}),
        ("a malformed client certificate", {"client_cert_pem": "-----BEGIN CERTIFICATE-----"}),
    ]
    tokens = [c.credentials["token"] for c in context.identity.cases if "token" in c.credentials]
    if tokens:
        token = tokens[0]
        cases += [
            ("a known token with one character more", {"token": token + "A"}),
            ("a known token without its last character", {"token": token[:-1]}),
            ("a known token in other case", {"token": token.swapcase()}),
        ]
    return [(label, creds) for label, creds in cases if creds.get("token") not in tokens]


@check("F-222", NAME, "identity: unknown credentials are refused",
       "规则第11条 (only authenticated users act)")  # fmt: skip
def identity_refuses_unknown(context: PluginsContext) -> Verdict:
    """Random, empty and near-miss tokens, an unknown operator, no credentials and a malformed
    client certificate each raise :class:`bdcert.errors.IdentityError` (what the service turns
    into a 401), never a principal and never another exception."""
    from bdcert.errors import IdentityError

    subject = context.identity
    if subject is None:
        return skipped(f"no identity provider to check: give {context.missing['identity']}")
    attempts = _unknown_credentials(context)
    findings = []
    for label, credentials in attempts:
        try:
            got = subject.provider.authenticate(credentials)
        except IdentityError:
            continue
        except Exception as exc:
            findings.append(Evidence(label, "IdentityError", _found(exc)))
        else:
            findings.append(Evidence(label, "IdentityError", f"authenticated as {describe(got)}"))
    if findings:
        return failed(
            f"{len(findings)} of {len(attempts)} unknown credentials not refused", findings
        )
    return passed(
        f"{len(attempts)} unknown credentials each refused with IdentityError "
        f"({', '.join(label for label, _ in attempts)})"
    )


@check("P-223", NAME, "identity: no secret in reprs, str or error messages",
       "规则第11条; GB/T 22239-2019 §8.1.4 (authentication data protected)")  # fmt: skip
def identity_keeps_secrets(context: PluginsContext) -> Verdict:
    """No token, password or stored token hash shows in the provider's ``repr`` or ``str``, in
    an authenticated principal's, or in the message of an ``IdentityError`` for a wrong token
    (which must not echo what was presented): these end up in logs."""
    from bdcert.errors import IdentityError

    subject = context.identity
    if subject is None:
        return skipped(f"no identity provider to check: give {context.missing['identity']}")
    texts: list[tuple[str, str]] = [
        ("repr(provider)", repr(subject.provider)),
        ("str(provider)", str(subject.provider)),
    ]
    for case in subject.cases:
        with contextlib.suppress(Exception):
            texts.append(
                (
                    f"repr(principal of {case.label})",
                    repr(subject.provider.authenticate(dict(case.credentials))),
                )
            )
    presented: list[str] = []
    for label, credentials in _unknown_credentials(context):
        if not credentials.get("token"):
            continue
        presented.append(credentials["token"])
        try:
            subject.provider.authenticate(credentials)
        except IdentityError as exc:
            texts.append((f"IdentityError for {label}", str(exc)))
        except Exception as exc:
            texts.append((f"{type(exc).__name__} for {label}", str(exc)))
    secrets = [s for s in (*subject.secrets, *presented) if len(s) >= 8]
    findings = []
    for where, text in texts:
        for secret in secrets:
            if secret in text:
                findings.append(
                    Evidence(
                        where,
                        "no secret",
                        f"contains a secret ({len(secret)} characters, starting {secret[:4]}…)",
                    )
                )
    if findings:
        return failed(f"secrets shown in {len({e.field for e in findings})} texts", findings)
    return passed(
        f"{len(texts)} reprs, strs and error messages hold none of {len(secrets)} secrets"
    )


# --------------------------------------------------------------------------- notifiers


def _events() -> list[Any]:
    """Certificate events of each kind, with details, in China time."""
    from datetime import datetime

    from bdcert.model import CHINA_TZ, CertificateEvent

    at = datetime(2024, 5, 6, 10, 30, tzinfo=CHINA_TZ)
    first = "川(2024)成都市不动产权第0000001号"
    second = "川(2024)成都市不动产权第0000002号"
    return [
        CertificateEvent("issued", first, "510100-2024-000001", "510100", at, {"kind": "property"}),
        CertificateEvent(
            "superseded", first, "510100-2024-000002", "510100", at, {"successors": [second]}
        ),
        CertificateEvent(
            "restricted", second, "510100-2024-000003", "510100", at,
            {"authority": "成都市锦江区人民法院", "document_number": "（2024）川0104执123号"},
        ),
        CertificateEvent("cancelled", second, "510100-2024-000004", "510100", at, {"reason": "灭失"}),
    ]  # fmt: skip


def _payload(event: Any) -> dict[str, Any]:
    """What the body of ``event`` must say (bdcert's webhook body), as JSON data."""
    from bdcert_plugins.notify_webhook import event_body

    return json.loads(event_body(event))  # type: ignore[no-any-return]


def _matches(delivery: Any, event: Any) -> bool:
    try:
        return bool(json.loads(delivery.body) == _payload(event))
    except ValueError:
        return False


def _each_notifier(
    context: PluginsContext, run: Callable[[Any, Any, bytes], tuple[list[Evidence], str]]
) -> Verdict:
    """``run(receiver, notifier, secret) -> (findings, summary)`` for each notifier under test,
    each with its own receiver and a fresh secret."""
    from bdcert_conformance.plans.receiver import Receiver

    if not context.notifiers:
        return skipped(f"no notifier to check: give {context.missing['notifier']}")
    findings: list[Evidence] = []
    summaries = []
    for subject in context.notifiers:
        secret = new_secret()
        with Receiver() as receiver:
            notifier = subject.make(receiver.url, secret)
            found, summary = run(receiver, notifier, secret)
        findings += [attrs.evolve(e, field=f"{subject.name}: {e.field}") for e in found]
        summaries.append(f"{subject.name}: {summary} ({subject.source})")
    if findings:
        return failed(f"{len(findings)} findings: {'; '.join(summaries)}", findings)
    return passed("; ".join(summaries))


@check("P-231", NAME, "notifier: every delivery signed (HMAC-SHA256 of the body)",
       "RFC 2104 (HMAC); bdcert webhook X-Bdcert-Signature")  # fmt: skip
def notifier_signed(context: PluginsContext) -> Verdict:
    """Each event of each kind arrives once, its body the event (kind, number, ywh, djjg, time,
    details), ``X-Bdcert-Event`` its kind, and ``X-Bdcert-Signature`` the HMAC-SHA256 of the
    exact body bytes keyed with the secret: a receiver can tell a forged event."""
    from bdcert_plugins.notify_webhook import SIGNATURE_HEADER, verify_signature

    def run(receiver: Any, notifier: Any, secret: bytes) -> tuple[list[Evidence], str]:
        events = _events()
        findings = []
        for event in events:
            notifier.notify(event)
        deliveries = receiver.deliveries
        for event in events:
            own = [d for d in deliveries if _matches(d, event)]
            field = f"{event.kind} {event.number}"
            if len(own) != 1:
                findings.append(
                    Evidence(
                        field,
                        "delivered once, body = the event",
                        f"{len(own)} deliveries with its body",
                    )
                )
                continue
            d = own[0]
            signature = d.header(SIGNATURE_HEADER)
            if signature is None or not verify_signature(secret, d.body, signature):
                findings.append(
                    Evidence(
                        f"{field}: {SIGNATURE_HEADER}",
                        "sha256=HMAC-SHA256(secret, body)",
                        repr(signature)[:90],
                    )
                )
            if d.header("X-Bdcert-Event") != event.kind:
                findings.append(
                    Evidence(
                        f"{field}: X-Bdcert-Event", event.kind, repr(d.header("X-Bdcert-Event"))
                    )
                )
        strays = [d for d in deliveries if not any(_matches(d, e) for e in events)]
        if strays:
            findings.append(
                Evidence(
                    "deliveries", "each the body of an event", f"{len(strays)} with another body"
                )
            )
        return findings, f"{len(events)} events, {len(deliveries)} deliveries, signatures checked"

    return _each_notifier(context, run)


@check("P-232", NAME, "notifier: a transient failure is retried",
       "RFC 9110 §15.6.4 (503), RFC 6585 §4 (429): try again")  # fmt: skip
def notifier_retries(context: PluginsContext) -> Verdict:
    """When the receiver answers 503 and then 429, one ``notify`` call tries again until the
    receiver takes the event (three attempts), each attempt the same body and signature."""
    from bdcert_plugins.notify_webhook import SIGNATURE_HEADER

    def run(receiver: Any, notifier: Any, secret: bytes) -> tuple[list[Evidence], str]:
        event = _events()[0]
        receiver.script(503, 429)
        findings = []
        try:
            notifier.notify(event)
        except Exception as exc:
            findings.append(
                Evidence("notify after 503, 429", "delivered on the 3rd attempt", _found(exc))
            )
        attempts = receiver.deliveries
        if [d.status for d in attempts] != [503, 429, 200]:
            findings.append(
                Evidence(
                    "attempts (statuses answered)",
                    "[503, 429, 200]",
                    str([d.status for d in attempts]),
                )
            )
        if len({(d.body, d.header(SIGNATURE_HEADER)) for d in attempts}) > 1:
            findings.append(
                Evidence("attempts", "the same body and signature each time", "they differ")
            )
        return findings, f"503, 429 then 200: {len(attempts)} attempts"

    return _each_notifier(context, run)


@check("P-233", NAME, "notifier: nothing lost (delivered, or NotificationError)",
       "bdcert.protocols.Notifier (NotificationError → the outbox); 规则第17条")  # fmt: skip
def notifier_nothing_lost(context: PluginsContext) -> Verdict:
    """Against a flaky receiver (503 on some first attempts) and one that is down (503 always),
    every ``notify`` either returns after the receiver took the event with a 2xx, or raises
    :class:`bdcert.errors.NotificationError` (bdcert then keeps the event in the outbox). A
    notify that returns without a 2xx for its event has lost it."""
    from bdcert.errors import NotificationError

    def run(receiver: Any, notifier: Any, secret: bytes) -> tuple[list[Evidence], str]:
        findings = []
        events = _events()
        outcomes = []
        for i, event in enumerate(events):
            down = i == len(events) - 1
            if down:
                receiver.fail_always(503)
            elif i % 2 == 0:
                receiver.script(503)
            raised: BaseException | None = None
            try:
                notifier.notify(event)
            except Exception as exc:
                raised = exc
            receiver.reset()
            taken = any(_matches(d, event) and 200 <= d.status < 300 for d in receiver.deliveries)
            field = f"{event.kind} {event.number} ({'receiver down' if down else 'flaky receiver'})"
            if raised is None and not taken:
                findings.append(
                    Evidence(
                        field,
                        "delivered (2xx) or NotificationError",
                        "notify returned, the receiver never took the event: lost",
                    )
                )
            elif raised is not None and not isinstance(raised, NotificationError):
                findings.append(Evidence(field, "NotificationError", _found(raised)))
            elif down and raised is None:
                findings.append(Evidence(field, "NotificationError", "returned normally"))
            outcomes.append(
                "delivered" if taken else "NotificationError" if raised is not None else "lost"
            )
        return findings, f"{len(events)} events: {', '.join(outcomes)}"

    return _each_notifier(context, run)


@check("P-234", NAME, "notifier: a stable de-duplication id per event",
       "bdcert webhook X-Bdcert-Delivery (at-least-once delivery, receivers drop duplicates)")  # fmt: skip
def notifier_dedup_ids(context: PluginsContext) -> Verdict:
    """``X-Bdcert-Delivery`` is present, the same on every attempt and every re-delivery of one
    event (the outbox sends it again), and different for different events: a receiver drops
    duplicates by it and never drops a new event."""

    def run(receiver: Any, notifier: Any, secret: bytes) -> tuple[list[Evidence], str]:
        first, second = _events()[:2]
        receiver.script(503)
        notifier.notify(first)  # attempt 1 fails, attempt 2 delivers
        notifier.notify(first)  # re-delivered from the outbox
        notifier.notify(second)
        deliveries = receiver.deliveries
        ids_first = [d.header("X-Bdcert-Delivery") for d in deliveries if _matches(d, first)]
        ids_second = [d.header("X-Bdcert-Delivery") for d in deliveries if _matches(d, second)]
        findings = []
        if len(ids_first) != 3 or len(set(ids_first)) != 1 or None in ids_first:
            findings.append(
                Evidence(
                    f"{first.kind} {first.number}: X-Bdcert-Delivery of 3 sends",
                    "one id, 3 times",
                    ", ".join(map(str, ids_first)) or "none",
                )
            )
        if not ids_second or None in ids_second or set(ids_second) & set(ids_first):
            findings.append(
                Evidence(
                    f"{second.kind} {second.number}: X-Bdcert-Delivery",
                    "an id of its own",
                    ", ".join(map(str, ids_second)) or "none",
                )
            )
        return findings, f"{len(deliveries)} deliveries of 2 events, ids compared"

    return _each_notifier(context, run)


# --------------------------------------------------------------------------- the self-test


@attrs.frozen
class ReferenceEnvironment:
    """bdcert's own reference plugins: a demo workspace (``workspace``) configured with the
    ``sql`` storage, the ``software`` seal provider on a demo PKI, the ``tokens`` identity
    provider (``tokens``: entry name -> token) and a ``webhook`` notifier."""

    workspace: Path
    tokens: dict[str, str]


def reference_environment(stack: contextlib.ExitStack, workdir: Path) -> ReferenceEnvironment:
    """Make the reference workspace in ``workdir`` (nothing to close)."""
    from bdcert_conformance.plans.plugin_reference import make_reference_workspace

    return make_reference_workspace(Path(workdir))


def reference_options(env: ReferenceEnvironment) -> RunOptions:
    return RunOptions(
        plan=NAME,
        workspace=env.workspace,
        tokens=dict(env.tokens),
        system="bdcert reference plugins",
        vendor="bdcert",
    )


def reference_run(env: ReferenceEnvironment, workdir: Path) -> RunOptions:
    """Run the plan on the reference workspace (every check must pass)."""
    return reference_options(env)


def reference_context(
    env: ReferenceEnvironment, workdir: Path
) -> tuple[RunOptions, PluginsContext]:
    """The reference run's options and context, for a broken implementation to replace one part."""
    options = reference_options(env)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return options, build_context(options, Path(workdir))


def _broken() -> Sequence[Any]:
    from bdcert_conformance.broken.plugins import BROKEN as broken

    return broken


BROKEN = list(_broken())
