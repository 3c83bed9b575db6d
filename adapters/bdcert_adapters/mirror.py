"""A city's mirror of the provincial library (rule article 12: cities pull certificates from the
province): follow the province's change feed into the city's own workspace, so that the city
serves and verifies its authority's certificates from its own store.

Applying one event (:meth:`Mirror.apply`):

- ``issued``: the PDF (and the OFD, when one is filed) is fetched by number *before* the
  transaction; its SHA-256 must be the event's ``pdf_sha256`` (or, for a PDF renewed since by an
  incremental update, that of a prefix of it), its seal must verify against the **city's own
  trust roots** (:func:`bdcert.lifecycle.reading.check_document`) and be the certificate's
  authority's (its 统一社会信用代码 in the signer), and the feed's certificate must be what the
  PDF prints (every face item, every holder's name, the number: ``pdftotext``; the QR code's
  token: ``zbarimg``), so the province's metadata is believed only where its seal backs it;
  then the certificate, its registration record and its documents are filed through the storage
  protocol;
- ``superseded``, ``cancelled``, ``restricted``, ``restriction_lifted``: ``set_superseded``,
  ``set_cancelled``, ``add_restriction``, ``lift_restriction``.

Every event, of whatever kind, must be of the authority mirrored (``authority``; without one,
of an authority this workspace is configured with): a feed that sends others is refused.

Exactly once: each event is applied in one storage transaction that also checks the stored
cursor is the one the event follows, advances it (``mirror_state``), and logs ``mirror_apply``
(rule article 17). A crash before the commit leaves neither the effects nor the cursor; after it,
both. Resuming reads the stored cursor, so no event is skipped and none is applied twice: a
second follower of the same source finds the cursor moved and starts again from it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import attrs

from bdcert.errors import BdcertError
from bdcert.lifecycle import Registry
from bdcert.lifecycle.feed import FeedEvent, LibrarySummary, feed_records, library_summary
from bdcert.model import AuditEvent, Certificate, Restriction, VerdictCode
from bdcert.wire import converter
from bdcert_adapters.client import ProvinceClient, ProvinceError, ProvinceUnreachable

__all__ = ["Documents", "Mirror", "MirrorError", "Reconciliation", "original_of"]

log = logging.getLogger("bdcert.mirror")
#: The actor of the mirror's audit events.
ACTOR = "mirror"
_EOF = re.compile(rb"%%EOF(\r\n|\r|\n)?")
#: Free-text face items (附记, 其他, 权利其他状况) not compared with the PDF's text: the renderer
#: may draw their punctuation with other glyphs, so their extracted text need not round-trip.
_FREE_TEXT = frozenset({"fj", "qt", "qlqtzk"})


class MirrorError(BdcertError):
    """An event cannot be applied (a document that does not match the feed or does not verify
    here); the mirror stops before it, its cursor unmoved."""


@attrs.define(frozen=True)
class Documents:
    """The fetched documents of an issued certificate: ``pdf`` as filed at issue, ``renewed``
    the province's current PDF when it extends the filed one (else None), ``ofd`` or None."""

    pdf: bytes
    renewed: bytes | None
    ofd: bytes | None


@attrs.define(frozen=True)
class Reconciliation:
    """The local and the province's summary of one authority, and whether they are equal."""

    authority: str
    local: LibrarySummary
    province: dict[str, Any]

    @property
    def equal(self) -> bool:
        return (
            self.local.digest == self.province.get("digest")
            and self.local.total == self.province.get("total")
            and self.local.counts == self.province.get("counts")
        )


def original_of(pdf: bytes, sha256_hex: str) -> bytes | None:
    """``pdf`` itself when its SHA-256 is ``sha256_hex``; else the prefix of it ending at a
    ``%%EOF`` marker that has that hash (the PDF as filed, before an incremental update renewed
    it: ISO 32000-1 §7.5.6); else None."""
    if hashlib.sha256(pdf).hexdigest() == sha256_hex:
        return pdf
    for match in _EOF.finditer(pdf):
        prefix = pdf[: match.end()]
        if len(prefix) < len(pdf) and hashlib.sha256(prefix).hexdigest() == sha256_hex:
            return prefix
    return None


class Mirror:
    """Follows the province's feed into ``registry``'s store.

    :param registry: the city's registry (its store, trust roots and clock are used).
    :param province: a client of the province.
    :param authority: the authority whose certificates are mirrored (None: all the token may
        read; a registrar's token reads its own).
    :param source: the name the cursor is stored under (default: the province's URL and the
        authority), so one workspace may mirror several feeds.
    """

    def __init__(
        self,
        registry: Registry,
        province: ProvinceClient,
        *,
        authority: str | None = None,
        source: str | None = None,
    ) -> None:
        self.registry = registry
        self.province = province
        self.authority = authority
        base = str(province.base_url).rstrip("/")
        self.source = source or f"{base}#{authority or '*'}"

    def cursor(self) -> str | None:
        """The cursor of the last event applied (None: none yet)."""
        with self.registry.storage.transaction() as tx:
            return feed_records(tx).mirror_cursor(self.source)

    def sync(self, *, stop: Callable[[], bool] | None = None) -> int:
        """Apply every event the feed holds now, page by page; returns how many were applied.

        :raises MirrorError: an event could not be applied (those before it are).
        :raises ProvinceError, ProvinceUnreachable: the province refused or did not answer.
        """
        applied = 0
        cursor = self.cursor()
        while True:
            events, _ = self.province.feed_page(cursor, self.authority)
            if not events:
                return applied
            for event in events:
                if stop is not None and stop():
                    return applied
                documents = self.fetch(event) if event.kind == "issued" else None
                if self.apply(event, cursor, documents):
                    applied += 1
                    cursor = event.cursor
                else:  # another follower moved the cursor: resume from where it is
                    cursor = self.cursor()
                    break

    def follow(self, interval: float, *, stop: Callable[[], bool] | None = None) -> None:
        """:meth:`sync`, then again every ``interval`` seconds, until ``stop()`` is true. A
        province that does not answer is tried again at the next interval (logged)."""
        while stop is None or not stop():
            try:
                count = self.sync(stop=stop)
                if count:
                    log.info("applied %d events from %s", count, self.source)
            except (ProvinceError, ProvinceUnreachable) as exc:
                log.warning("the province did not answer: %s", exc)
            wake = time.monotonic() + interval
            while time.monotonic() < wake and not (stop is not None and stop()):
                time.sleep(min(0.2, interval))

    def fetch(self, event: FeedEvent) -> Documents:
        """The documents of an ``issued`` event, fetched and checked: the event is of the
        authority mirrored, the PDF's SHA-256 (or a prefix's, when renewed since) is the
        event's, its seal and the OFD's verify against this workspace's trust roots and are the
        certificate's authority's own, and the feed's certificate is what the PDF prints (face
        items, holders' names, number, QR token).

        :raises MirrorError: naming the certificate and what is wrong.
        """
        from bdcert.lifecycle.reading import check_document

        number = event.number
        self._check_authority(event)
        if event.certificate is None:
            raise MirrorError(f"{number}: an issue needs the certificate and its PDF")
        try:
            cert = converter.structure(event.certificate, Certificate)
        except Exception as exc:  # a province's answer is data: any shape error refuses it
            raise MirrorError(f"{number}: the event's certificate cannot be read: {exc}") from exc
        if cert.number != number or cert.pdf_sha256 != event.pdf_sha256:
            raise MirrorError(f"{number}: the event's certificate is another one")
        current = self.province.pdf(number)
        filed = original_of(current, event.pdf_sha256)
        if filed is None:
            raise MirrorError(
                f"{number}: the PDF the province serves does not have the SHA-256 the feed "
                f"announced ({event.pdf_sha256})"
            )
        roots = self.registry.trust_roots
        checked = [("PDF", filed)] + ([("renewed PDF", current)] if filed is not current else [])
        for kind, data in checked:
            self._check_seal(cert, kind, check_document(data, roots))
        self._check_face(cert, filed)
        ofd = None
        if event.has_ofd:
            ofd = self.province.ofd(number)
            self._check_seal(cert, "OFD", check_document(ofd, roots))
        return Documents(filed, None if filed is current else current, ofd)

    def _check_authority(self, event: FeedEvent) -> None:
        """The event, and its certificate, are of the authority mirrored (rule article 12: a
        city mirrors its own authority; a province or a man in the middle that sends another
        authority's certificates is refused, not believed)."""
        named = {event.authority}
        if event.certificate is not None:
            named.add(str(event.certificate.get("authority_code")))
        wanted = self.authority
        if wanted is None:  # every authority this workspace is configured with
            strangers = named - set(self.registry.services.authorities)
        else:
            strangers = named - {wanted}
        if strangers:
            mirrored = wanted or "this workspace's authorities"
            raise MirrorError(
                f"{event.number}: the feed sends an event of authority "
                f"{', '.join(sorted(strangers))}, not of {mirrored}; refused"
            )

    def _check_seal(self, cert: Certificate, kind: str, check: Any) -> None:
        """The seal verifies against this city's trust roots and is the certificate's
        authority's own (the signing certificate carries its 统一社会信用代码, as a deposit's
        must: :mod:`bdcert.lifecycle.collection`)."""
        number = cert.number
        if check.code is not VerdictCode.VALID:
            hint = ""
            if "trust root" in (check.detail or "") or check.code is VerdictCode.UNTRUSTED_SIGNER:
                hint = (
                    " — if the province's certificates are new here, add the province's root "
                    "certificate (the PEM bundle the province publishes at GET "
                    "/api/v1/trust-bundle) to this city's `[bdcert] trust_roots` in bdcert.toml"
                )
            raise MirrorError(f"{number}: its {kind} does not verify here: {check.detail}{hint}")
        authority = self.registry.services.authorities.get(cert.authority_code)
        if authority is None or authority.credit_code not in (check.signer or ""):
            raise MirrorError(
                f"{number}: its {kind} is sealed by {check.signer}, not by the authority "
                f"{cert.authority_code} of its certificate"
            )

    def _check_face(self, cert: Certificate, pdf: bytes) -> None:
        """The feed's metadata is what the sealed PDF prints: every face item but the free-text
        ones (:data:`_FREE_TEXT`), every holder's name, the number, and the QR code's token
        (:mod:`bdcert.lifecycle.deposit_files`, as a deposit is checked). The holders' ID
        numbers are not printed on the face, so a province could still change those alone."""
        from bdcert.lifecycle.deposit_files import qr_payloads, token_of, unprinted

        values = [
            (f"face.{item.key}", item.value) for item in cert.face if item.key not in _FREE_TEXT
        ]
        values += [(f"holders[{i}].name", h.name) for i, h in enumerate(cert.holders)]
        values.append(("number", cert.number))
        missing = unprinted(pdf, values)
        if missing:
            raise MirrorError(
                f"{cert.number}: the feed's certificate differs from its sealed PDF "
                f"({', '.join(missing)} not printed on it); refused"
            )
        if not any(token_of(url) == cert.token for url in qr_payloads(pdf)):
            raise MirrorError(
                f"{cert.number}: the feed's verification token is not the one in the sealed "
                "PDF's QR code; refused"
            )

    def apply(self, event: FeedEvent, previous: str | None, documents: Documents | None) -> bool:
        """Apply ``event`` if the stored cursor is ``previous`` (the cursor it follows), in one
        transaction with the new cursor and a ``mirror_apply`` audit event. Returns False, having
        changed nothing, when the cursor has moved (another follower applied it).

        :raises MirrorError: the event cannot be applied here.
        """
        now = self.registry.clock()
        with self.registry.storage.transaction() as tx:
            records = feed_records(tx)
            if records.mirror_cursor(self.source) != previous:
                return False
            number = event.number
            self._check_authority(event)
            if event.kind == "issued":
                if documents is None or event.certificate is None:
                    raise MirrorError(f"{number}: an issue needs the certificate and its PDF")
                cert = converter.structure(event.certificate, Certificate)
                if cert.number != number or cert.pdf_sha256 != event.pdf_sha256:
                    raise MirrorError(f"{number}: the event's certificate is another one")
                records.add_mirrored_registration(
                    cert.business_number, cert.authority_code, number, cert.issued_at
                )
                tx.add_certificate(cert, documents.pdf)
                if documents.renewed is not None:
                    tx.replace_pdf(number, documents.renewed, now)
                if documents.ofd is not None:
                    tx.add_ofd(number, documents.ofd)
            elif event.kind == "superseded":
                tx.set_superseded(number, event.superseded_by, event.business_number)
            elif event.kind == "cancelled":
                tx.set_cancelled(number, event.reason or "", event.business_number)
            elif event.kind in ("restricted", "restriction_lifted"):
                if event.restriction is None:
                    raise MirrorError(f"{number}: the {event.kind} event names no seizure")
                seizure = converter.structure(event.restriction, Restriction)
                if event.kind == "restricted":
                    tx.add_restriction(number, seizure)
                elif seizure.end is None:
                    raise MirrorError(
                        f"{number}: the lifting of {seizure.business_number} has no end"
                    )
                else:  # 0 when it already ended by then: nothing to change
                    records.lift_restriction(number, seizure.business_number, seizure.end)
            else:
                raise MirrorError(f"{number}: unknown feed event kind {event.kind!r}")
            details = {
                "kind": event.kind,
                "cursor": event.cursor,
                "source": self.source,
                "at_province": event.at.isoformat(),
            }
            tx.append_audit(AuditEvent("mirror_apply", ACTOR, number, now, details))
            records.set_mirror_cursor(self.source, event.cursor, now)
        return True

    def reconcile(self) -> list[Reconciliation]:
        """This store's :func:`~bdcert.lifecycle.feed.library_summary` beside the province's,
        for each authority the province reports."""
        theirs = self.province.summary(self.authority)
        now = self.registry.clock()
        found = []
        for item in theirs["authorities"]:
            code = str(item["authority"])
            mine = library_summary(self.registry.storage, code, at=now)
            found.append(Reconciliation(code, mine, item))
        return found
