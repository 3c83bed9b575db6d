"""Offline verification (rule article 14): what a bank checks without the register.

Three pieces:

**The trust bundle** (:class:`TrustBundle`) — what a bank pins: the trust roots, the
authorities' seal certificates (the chain below the roots, for information and for tools that
want them) and the CRLs the workspace knows, as one versioned JSON file (UTF-8)::

    {"format": "bdcert-trust-bundle", "version": 1,
     "made_at": "2026-12-08T07:30:00+08:00",
     "roots": ["-----BEGIN CERTIFICATE-----\\n…"],     # PEM, one certificate each
     "chain": ["-----BEGIN CERTIFICATE-----\\n…"],     # the seal certificates, PEM
     "crls": ["-----BEGIN X509 CRL-----\\n…"],         # PEM
     "sha256": "…"}

``sha256`` is the hex SHA-256 of the canonical JSON of every other member (keys sorted, no
blanks, UTF-8: :func:`canonical_json`); it names the bundle (a bank pins it, and every offline
verdict says which bundle it used) and detects a damaged file. It proves nothing about who made
the bundle: obtain it from the platform over an authenticated channel (``GET
/api/v1/trust-bundle`` over TLS, ``bdcert trust-bundle export``) and compare the digest with
the published one. JSON rather than a PEM bundle because it versions, dates and names itself,
and carries CRLs beside certificates; its PEM members are those ``openssl`` reads.

**The sealed status snapshot** (:func:`make_status_snapshot`) — the numbers no longer in force
(superseded, with their successors; cancelled, with the reason, personal names masked) and the
restricted ones (查封 in force: in force but flagged, with the seizing authority and document),
as of the time it was made. It is a one-page PDF that prints a summary and carries the JSON
(:data:`SNAPSHOT_FORMAT`) as an embedded file ``status-snapshot.json`` (ISO 32000-1 §7.11.4,
extractable with ``pdfdetach``), its SHA-256 printed and in ``/Subject``, sealed with the
``[audit]`` authority's seal through the workspace's seal provider (PAdES, or SM2 for an SM2
workspace): anyone checks it with standard tools (``pdfsig`` with the bundle's root trusted),
and :func:`read_status_snapshot` refuses one whose seal fails or does not chain to a root of the
bundle.

**The offline check** (:func:`verify_offline`) — seal, integrity and issuer from the document
and the bundle alone (no workspace, no register: the same seal checks as
:meth:`bdcert.lifecycle.Registry.verify`, :func:`bdcert.lifecycle.reading.check_document`),
then the status from the snapshot when one is given. The report names the level that ran
(:data:`~bdcert.verify.report.LEVEL_SEAL_ONLY`, ``seal and snapshot as of <time>``) and the
bundle's digest. At seal-only level a superseded certificate is ``VALID`` (its seal is sound;
the register check is ``not_checked``); with a snapshot that lists it, ``SUPERSEDED``. A sound
seal that is invisible or is no certification lock is ``NONCONFORMING`` (the report's ``form``
check names why); whether the signing time is the issue time needs the register (online).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from bdcert.errors import BdcertError
from bdcert.model import CHINA_TZ, Verdict, VerdictCode
from bdcert.sealing.statement import STATEMENT_SEAL_BOX
from bdcert.verify.report import (
    LEVEL_SEAL_ONLY,
    CheckResult,
    VerificationReport,
    level_snapshot,
    report_from_verdict,
)

__all__ = [
    "BUNDLE_FORMAT",
    "SNAPSHOT_FILE",
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_SEAL_BOX",
    "SNAPSHOT_STATUSES",
    "SnapshotEntry",
    "SnapshotError",
    "StatusSnapshot",
    "TrustBundle",
    "TrustBundleError",
    "canonical_json",
    "crl_der",
    "document_number",
    "embedded_file",
    "make_status_snapshot",
    "make_trust_bundle",
    "read_status_snapshot",
    "render_status_snapshot",
    "seal_check",
    "verify_offline",
]

#: The ``format`` of a trust bundle; its ``version`` is 1.
BUNDLE_FORMAT = "bdcert-trust-bundle"
#: The ``format`` of a status snapshot's JSON; its ``version`` is 1.
SNAPSHOT_FORMAT = "bdcert-status-snapshot"
#: The name of the snapshot's JSON embedded in its PDF.
SNAPSHOT_FILE = "status-snapshot.json"
#: Where a snapshot's seal stands: PDF points, a 42 mm square, as on the audit checkpoints.
SNAPSHOT_SEAL_BOX = STATEMENT_SEAL_BOX
#: The statuses a snapshot lists.
SNAPSHOT_STATUSES = ("superseded", "cancelled", "restricted")


class TrustBundleError(BdcertError, ValueError):
    """A trust bundle that cannot be used: not a bundle, another version, damaged (its digest
    differs), or holding something that is not a certificate or CRL."""


class SnapshotError(BdcertError, ValueError):
    """A status snapshot refused: not a snapshot, its seal fails (changed since sealing), or it
    was not sealed under a root of the trust bundle."""


def canonical_json(value: Any) -> bytes:
    """The canonical JSON of ``value`` the digests cover: keys sorted, no blanks, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _pem(der: bytes, label: str) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _unpem(text: str, label: str) -> bytes:
    head, tail = f"-----BEGIN {label}-----", f"-----END {label}-----"
    text = text.strip()
    if not (text.startswith(head) and text.endswith(tail)):
        raise ValueError(f"not one PEM {label}")
    return base64.b64decode("".join(text[len(head) : -len(tail)].split()), validate=True)


# --------------------------------------------------------------------------- the trust bundle


@attrs.define(frozen=True)
class TrustBundle:
    """The trust roots, seal certificates and CRLs a bank pins (see the module docstring).

    :ivar made_at: when it was made (aware).
    :ivar roots: the trust roots, DER.
    :ivar chain: the authorities' seal certificates, DER.
    :ivar crls: CRLs, DER.
    :ivar sha256: the hex SHA-256 of its canonical JSON (without ``sha256``): its name.
    """

    made_at: datetime
    roots: tuple[bytes, ...]
    chain: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    sha256: str = ""

    def _body(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "version": 1,
            "made_at": self.made_at.astimezone(CHINA_TZ).isoformat(),
            "roots": [_pem(d, "CERTIFICATE") for d in self.roots],
            "chain": [_pem(d, "CERTIFICATE") for d in self.chain],
            "crls": [_pem(d, "X509 CRL") for d in self.crls],
        }

    def to_json(self) -> bytes:
        """The bundle file (UTF-8 JSON, indented, ``sha256`` last)."""
        body = self._body()
        body["sha256"] = hashlib.sha256(canonical_json(body)).hexdigest()
        return json.dumps(body, ensure_ascii=False, indent=1).encode() + b"\n"

    @classmethod
    def load(cls, data: bytes) -> TrustBundle:
        """Read a bundle file, checking its format, version and digest.

        :raises TrustBundleError: naming what is wrong.
        """
        from asn1crypto import crl as asn1_crl
        from asn1crypto import x509 as asn1_x509

        try:
            body = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise TrustBundleError(f"the trust bundle is not UTF-8 JSON: {exc}") from None
        if not isinstance(body, dict) or body.get("format") != BUNDLE_FORMAT:
            raise TrustBundleError(f"the file is not a trust bundle (format {BUNDLE_FORMAT!r})")
        if body.get("version") != 1:
            raise TrustBundleError(f"trust bundle version {body.get('version')!r} is not 1")
        stated = body.pop("sha256", None)
        actual = hashlib.sha256(canonical_json(body)).hexdigest()
        if stated != actual:
            raise TrustBundleError(
                f"the trust bundle is damaged or was edited: its digest is {actual}, "
                f"it states {stated!r}"
            )
        try:
            made_at = datetime.fromisoformat(body["made_at"])
            roots = tuple(_unpem(p, "CERTIFICATE") for p in body["roots"])
            chain = tuple(_unpem(p, "CERTIFICATE") for p in body["chain"])
            crls = tuple(_unpem(p, "X509 CRL") for p in body["crls"])
            for der in (*roots, *chain):
                asn1_x509.Certificate.load(der, strict=True).native  # noqa: B018 - parse now
            for der in crls:
                asn1_crl.CertificateList.load(der, strict=True).native  # noqa: B018
        except (KeyError, TypeError, ValueError) as exc:
            raise TrustBundleError(f"the trust bundle holds a bad member: {exc}") from None
        if not roots:
            raise TrustBundleError("the trust bundle holds no trust root")
        return cls(made_at, roots, chain, crls, actual)


def crl_der(data: bytes) -> bytes:
    text = bytes(data)
    if text.lstrip().startswith(b"-----BEGIN"):
        return _unpem(text.decode("ascii"), "X509 CRL")
    return text


def make_trust_bundle(registry: Any) -> TrustBundle:
    """The trust bundle of a :class:`~bdcert.lifecycle.Registry`:
    :meth:`~bdcert.lifecycle.Registry.trust_bundle`."""
    bundle: TrustBundle = registry.trust_bundle()
    return bundle


# --------------------------------------------------------------------------- the snapshot


@attrs.define(frozen=True)
class SnapshotEntry:
    """One certificate of a snapshot.

    :ivar status: ``superseded``, ``cancelled`` or ``restricted`` (in force, under seizure).
    :ivar superseded_by: the successors' numbers (superseded).
    :ivar reason: the cancellation reason, personal names masked (cancelled).
    :ivar restrictions: the seizures in force: ``{"authority", "document_number", "end"}``.
    """

    number: str
    status: str
    superseded_by: tuple[str, ...] = ()
    reason: str | None = None
    restrictions: tuple[Mapping[str, str | None], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "superseded_by": list(self.superseded_by),
            "reason": self.reason,
            "restrictions": [dict(r) for r in self.restrictions],
        }


@attrs.define(frozen=True)
class StatusSnapshot:
    """A status snapshot whose seal was checked (:func:`read_status_snapshot`).

    :ivar made_at: when it was made (aware).
    :ivar authority_code: whose seal it carries.
    :ivar entries: number -> entry, for every certificate not plainly in force.
    :ivar sha256: hex SHA-256 of its JSON as embedded.
    :ivar signer: the seal certificate's subject.
    """

    made_at: datetime
    authority_code: str
    entries: Mapping[str, SnapshotEntry]
    sha256: str
    signer: str | None = None


def make_status_snapshot(registry: Any, *, made_by: str = "bdcert") -> bytes:
    """A sealed status snapshot of a :class:`~bdcert.lifecycle.Registry` now:
    :meth:`~bdcert.lifecycle.Registry.status_snapshot`."""
    pdf: bytes = registry.status_snapshot(made_by=made_by)
    return pdf


def render_status_snapshot(
    document: Mapping[str, Any],
    data: bytes,
    digest: str,
    counts: Mapping[str, int],
    authority: Any,
    renderer: Any,
    now: datetime,
) -> bytes:
    """The unsealed one-page snapshot PDF of ``document`` (its canonical JSON ``data``, whose
    SHA-256 is ``digest``): a summary printed, the JSON embedded as :data:`SNAPSHOT_FILE`.

    :param counts: superseded, cancelled, restricted -> how many.
    :param authority: the sealing :class:`~bdcert.model.Authority`.
    :param renderer: the workspace's renderer (its fonts).
    """
    from bdcert.render.statement import statement_pdf

    title = "不动产登记电子证照状态快照"
    lines = [
        ("时间 Made at", str(document["made_at"])),
        ("登记机构 Sealed by", f"{authority.name} ({authority.code})"),
        ("已被取代 Superseded", str(counts["superseded"])),
        ("已注销 Cancelled", str(counts["cancelled"])),
        ("查封中 Restricted (in force)", str(counts["restricted"])),
        (f"{SNAPSHOT_FILE} (SHA-256)", digest),
    ]
    note = (
        "本快照列出截至上述时间不再有效（已被取代、已注销）及被查封的证书，明细见所附 "
        f"{SNAPSHOT_FILE}。This snapshot lists the certificates no longer in force and those "
        "under seizure as of the time above; the list is the attached JSON file."
    )
    return statement_pdf(  # names and numbers only: MissingGlyph is a font defect
        renderer.fonts,
        title,
        note,
        lines,
        pdf_title=f"状态快照 {document['made_at']}",
        subject=json.dumps({"type": SNAPSHOT_FORMAT, "sha256": digest}),
        keywords=SNAPSHOT_FORMAT,
        author=authority.name,
        created=now,
        attachment=(
            SNAPSHOT_FILE,
            data,
            "application/json",
            "不动产登记电子证照状态快照 status snapshot",
        ),
    )


def embedded_file(pdf: bytes, name: str) -> bytes:
    """The bytes of the file ``name`` embedded in ``pdf`` (ISO 32000-1 §7.11.4, the
    ``/EmbeddedFiles`` name tree of a statement: a snapshot, a conformance manifest).

    :raises ValueError: none of that name. (pyHanko raises its own kinds on a damaged PDF.)
    """
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    for i in range(0, len(names) - 1, 2):
        spec = names[i + 1]
        if str(spec.get("/UF", spec.get("/F"))) == name:
            return bytes(spec["/EF"]["/F"].data)
    raise ValueError(f"no embedded {name}")


def _embedded_json(pdf: bytes) -> bytes:
    return embedded_file(pdf, SNAPSHOT_FILE)


def read_status_snapshot(pdf: bytes, bundle: TrustBundle) -> StatusSnapshot:
    """Check a snapshot's seal against ``bundle`` and read it.

    :raises SnapshotError: not a snapshot; its seal fails (changed, appended to, forged); it
        was not sealed under a root of the bundle; or its JSON is not the one it states.
    """
    data = bytes(pdf)
    check = seal_check(data, bundle.roots, crls=bundle.crls)
    if not check.trusted or check.code is not VerdictCode.VALID:
        under = (
            f" (not sealed under a root of trust bundle {bundle.sha256[:16]}…)"
            if check.code is VerdictCode.UNTRUSTED_SIGNER
            else ""
        )
        raise SnapshotError(
            f"the status snapshot is refused: its seal fails{under}: {check.code.value}: "
            f"{check.detail}"
        )
    try:
        raw = _embedded_json(data)
        body = json.loads(raw.decode("utf-8"))
    except Exception as exc:  # pyHanko and json raise many kinds on a PDF that is no snapshot
        raise SnapshotError(f"the sealed PDF is not a status snapshot: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError("the sealed PDF's attachment is not a status snapshot")
    if body.get("version") != 1:
        raise SnapshotError(f"status snapshot version {body.get('version')!r} is not 1")
    try:
        entries = {
            e["number"]: SnapshotEntry(
                e["number"],
                e["status"],
                tuple(e.get("superseded_by") or ()),
                e.get("reason"),
                tuple(e.get("restrictions") or ()),
            )
            for e in body["entries"]
        }
        made_at = datetime.fromisoformat(body["made_at"])
        authority_code = str(body["authority_code"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"the status snapshot holds a bad member: {exc}") from None
    return StatusSnapshot(
        made_at, authority_code, entries, hashlib.sha256(raw).hexdigest(), check.signer
    )


# --------------------------------------------------------------------------- the check

#: The SM2-with-SM3 signature OID (1.2.156.10197.1.501) as a PDF's /Contents holds it (hex).
_SM2_WITH_SM3_DER_HEX = b"2a811ccf55018375"


def seal_check(data: bytes, trust_roots: Any, *, at: datetime | None = None, crls: Any = ()) -> Any:
    """The seal check for the file's kind against ``trust_roots`` alone: an OFD package
    (:func:`bdcert.verify.ofd.verify_ofd`), an SM2-sealed PDF
    (:func:`bdcert.verify.pdf_sm2.check_pdf_sm2`) or PAdES
    (:func:`bdcert.verify.pades.check_pdf_seal`, as of ``at`` knowing ``crls``); also what
    :func:`bdcert.lifecycle.reading.check_document` runs for the register.

    :returns: a :class:`~bdcert.verify.pipeline.SealCheck`.
    """
    if data[:4] == b"PK\x03\x04":
        from bdcert.verify.ofd import verify_ofd

        return verify_ofd(data, trust_roots=trust_roots)
    if _SM2_WITH_SM3_DER_HEX in data.lower():
        from bdcert.verify.pdf_sm2 import check_pdf_sm2

        return check_pdf_sm2(data, trust_roots=trust_roots)
    from bdcert.verify.pades import check_pdf_seal

    return check_pdf_seal(data, trust_roots, at=at, crls=crls)


def document_number(data: bytes) -> str | None:
    """The certificate number a document names (PDF ``/Info /Title``, OFD ``DocInfo/Title``:
    inside the sealed content, bound to the seal by the issuer check); None if unreadable."""
    try:
        if data[:4] == b"PK\x03\x04":
            from bdcert.gm.ofd_package import parse_xml, read_package
            from bdcert.sealing.ofd import Q

            files = read_package(data).files
            info = parse_xml(files["OFD.xml"], "OFD.xml").find(f"{Q}DocBody/{Q}DocInfo")
            title = info.findtext(Q + "Title") if info is not None else None
        else:
            from pyhanko.pdf_utils.reader import PdfFileReader

            reader = PdfFileReader(io.BytesIO(data), strict=False)
            value = reader.trailer["/Info"].get("/Title")
            title = str(value) if value is not None else None
    except Exception:  # hostile input: no number
        return None
    return title.strip() if title and title.strip() else None


def _register_check(
    snapshot: StatusSnapshot, number: str | None
) -> tuple[VerdictCode, CheckResult]:
    label = "登记状态"
    when = snapshot.made_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    entry = snapshot.entries.get(number) if number else None
    if entry is None:
        return VerdictCode.VALID, CheckResult(
            "register",
            label,
            "not_listed",
            True,
            f"截至 {when}（状态快照），该证书不在失效或查封名单中",
            f"not listed in the status snapshot made at {snapshot.made_at.isoformat()}",
        )
    suffix = f"（截至 {when} 的状态快照）"
    if entry.status == "superseded":
        successors = "、".join(entry.superseded_by)
        return VerdictCode.SUPERSEDED, CheckResult(
            "register",
            label,
            "superseded",
            False,
            f"该证书已被 {successors} 取代{suffix}",
            f"superseded by {', '.join(entry.superseded_by)} (snapshot)",
        )
    if entry.status == "cancelled":
        return VerdictCode.CANCELLED, CheckResult(
            "register",
            label,
            "cancelled",
            False,
            f"该证书已注销，原因：{entry.reason or ''}{suffix}",
            f"cancelled: {entry.reason or ''} (snapshot)",
        )
    seized = entry.restrictions[-1] if entry.restrictions else {}
    which = f"（{seized.get('authority')} {seized.get('document_number')}）" if seized else ""
    return VerdictCode.RESTRICTED, CheckResult(
        "register",
        label,
        "restricted",
        True,
        f"该不动产单元已被查封{which}，证书仍然有效{suffix}",
        "valid, but the unit is under seizure (snapshot)",
    )


def verify_offline(
    document: bytes,
    bundle: TrustBundle,
    snapshot: StatusSnapshot | bytes | None = None,
    *,
    name: str | None = None,
    at: datetime | None = None,
) -> VerificationReport:
    """Verify a certificate (PDF or OFD) with no workspace and no register: seal, integrity
    and issuer against ``bundle``; the status from ``snapshot`` when given.

    :param snapshot: a checked :class:`StatusSnapshot`, or the sealed snapshot PDF (checked
        here against ``bundle``).
    :param at: the validation time of a PAdES seal (aware; default now).
    :returns: a report whose ``level`` is ``seal only`` or ``seal and snapshot as of <time>``
        and whose ``trust_bundle`` is the bundle's digest.
    :raises SnapshotError: for a snapshot refused (see :func:`read_status_snapshot`).
    """
    if isinstance(snapshot, bytes | bytearray | memoryview):
        snapshot = read_status_snapshot(bytes(snapshot), bundle)
    level = LEVEL_SEAL_ONLY if snapshot is None else level_snapshot(snapshot.made_at)
    data = bytes(document)
    check = seal_check(data, bundle.roots, at=at, crls=bundle.crls)
    if check.code is not VerdictCode.VALID:
        verdict = Verdict(check.code, False, check.detail, signer=check.signer,
                          signed_at=check.signed_at)  # fmt: skip
        return report_from_verdict(verdict, level=level, trust_bundle=bundle.sha256, name=name)
    number = document_number(data)
    if snapshot is None:
        code = VerdictCode.VALID
        register = CheckResult(
            "register",
            "登记状态",
            "not_checked",
            None,
            "离线验证仅核验签章，未核验登记状态（请联网核验，或使用状态快照）",
            "seal only: neither the register nor a status snapshot was consulted",
        )
        detail = "seal only: sealed by the authority and unchanged since sealing"
    else:
        code, register = _register_check(snapshot, number)
        detail = f"{check.detail}; {register.detail}"
    if check.form and code in (VerdictCode.VALID, VerdictCode.RESTRICTED):
        from bdcert.verify.form import nonconforming_detail

        code, detail = VerdictCode.NONCONFORMING, nonconforming_detail(detail, check.form)
    verdict = Verdict(
        code, True, detail, signer=check.signer, signed_at=check.signed_at, form=check.form
    )
    return report_from_verdict(
        verdict,
        level=level,
        register=register,
        number=number,
        trust_bundle=bundle.sha256,
        name=name,
    )
