"""The :class:`~bdcert.lifecycle.Registry` operations of the parties outside the registry:
holders (self-download, rule article 13), sharing parties and their agreements (article 16),
cities depositing what they sealed (归集, article 7 paragraph 2) and witnesses of the audit log
(article 17). A mixin of :class:`~bdcert.lifecycle.Registry`: each method delegates to the module
of its concern with the registry's :class:`~bdcert.lifecycle.services.Services`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bdcert.audit.witness import Countersignature
from bdcert.lifecycle import collection, deposit_events, holders, searching, sharing
from bdcert.lifecycle.services import Services
from bdcert.model import Certificate, IssuedCertificate, Principal
from bdcert.records import SharedCertificate, SharingAgreement

__all__ = ["PartyOperations"]


class PartyOperations:
    """Holders, sharing parties, depositing cities and witnesses (see the module)."""

    services: Services

    # -- holders and sharing parties ---------------------------------------------------------
    def self_download(
        self,
        name: str,
        id_number: str,
        paper_number: str | None = None,
        *,
        evidence: Mapping[str, str] | None = None,
        principal: Principal | None = None,
        source: str | None = None,
        code: str | None = None,
    ) -> list[IssuedCertificate]:
        """A holder downloads their current e-certificates (rule article 13).

        The proof and the rate limit are those of :mod:`bdcert.holders`: name and 证件号 of a
        权利人 of a current certificate; a certificate whose registration recorded a paper
        original is opened only by one of that registration's paper numbers; the identity
        provider's ``verify_holder`` checks, if it has them. Every attempt is in the audit log (``download``)
        with the ID number masked.

        :param id_number: any case (``x`` and ``X`` are the same resident ID).
        :param evidence: passed to the identity provider's ``verify_holder`` (e.g. a face token).
        :param principal: the channel relaying the request (an app, a portal), for the log only.
        :param source: the client the channel serves (its remote address, an account): failures
            are limited per source too (``max_source_failures``).
        :param code: the second factor, where the authority recorded one for a registration
            (:meth:`record_download_code`): its certificates are opened only with it.
        :returns: the holder's certificates in force (valid or restricted, not superseded or
            cancelled) that the proof opens (those needing no paper number, plus those of the
            registrations ``paper_number`` belongs to), oldest first, each with its sealed PDF
            and, when filed, its OFD.
        :raises ValidationError: a blank name or ID number (not counted as an attempt).
        :raises IdentityError: the proof failed (counted; the message never says which part).
        :raises TooManyAttempts: the ID number, the name or the source is locked (too many
            failures); ``locked_until`` says until when, None when it is held until a clerk
            unlocks it (:meth:`unlock_download`; after ``max_lockouts`` lockouts).
        """
        return holders.self_download(
            self.services,
            name,
            id_number,
            paper_number,
            evidence=evidence,
            principal=principal,
            source=source,
            code=code,
        )

    def record_download_code(
        self, business_number: str, id_number: str, *, principal: Principal
    ) -> str:
        """Make and record a second factor for one 权利人 of a registration (rule article 13):
        its certificates then download only with this code (:meth:`self_download` ``code``);
        a new code replaces the old. Stored as a salted scrypt hash; logged as
        ``download_code`` with the masked ID number.

        :returns: the code, 8 digits from the operating system's CSPRNG, to hand to the holder.
        :raises PermissionDenied: unless the principal may issue for the registration's
            authority (the pushing authority; logged), checked before the ID number is looked
            at and worded alike whatever the ID number and whether the registration exists
            (an unknown one is judged by the authority its ``NNNNNN-`` prefix names, else only
            the platform passes). :raises ValidationError: a blank argument, no registration
            with certificates, or the ID number is no 权利人 of its certificates.
        """
        return holders.record_download_code(
            self.services, business_number, id_number, principal=principal
        )

    def unlock_download(
        self,
        *,
        principal: Principal,
        reason: str,
        id_number: str | None = None,
        name: str | None = None,
        source: str | None = None,
    ) -> dict[str, str]:
        """A clerk lifts the self-download lock (failures, lockout, count of lockouts, hold)
        of an ID number, a name or a source (rule article 13, :mod:`bdcert.lifecycle.holders`);
        logged as ``download_unlock`` with the clerk, the reason, the masked number and name.

        :returns: each guard named -> its state before: ``held``, ``locked``, ``counting``
            (failures or lockouts counted) or ``clear``.
        :raises ValidationError: none of the three given, a blank one or a blank ``reason``
            (naming every bad field). :raises PermissionDenied: unless the platform or a
            registrar (logged).
        """
        return holders.unlock(
            self.services,
            principal=principal,
            reason=reason,
            id_number=id_number,
            name=name,
            source=source,
        )

    def add_agreement(self, raw: Mapping[str, Any], *, principal: Principal) -> SharingAgreement:
        """Add a signed sharing agreement (rule article 16); logged as ``agreement_add``.

        :param raw: ``id`` (optional), ``party``, ``purpose``, ``authorities``, ``fields``,
            ``valid_from``, ``valid_to``, ``signed_on`` (see :func:`bdcert.sharing.parse_agreement`).
        :raises PermissionDenied: unless the platform (logged).
        :raises ValidationError: naming every bad field (a repeated id too); nothing is stored.
        """
        return sharing.add_agreement(self.services, raw, principal=principal)

    def revoke_agreement(
        self, agreement_id: str, *, reason: str, principal: Principal
    ) -> SharingAgreement:
        """Revoke an agreement from now on, with the reason; logged as ``agreement_revoke``.

        :raises PermissionDenied: unless the platform (logged).
        :raises NotFound: for an unknown id. :raises ValidationError: a blank reason, or the
            agreement is already revoked.
        """
        return sharing.revoke_agreement(
            self.services, agreement_id, reason=reason, principal=principal
        )

    def agreements(
        self, *, principal: Principal, party: str | None = None
    ) -> list[SharingAgreement]:
        """Sharing agreements (of one party), revoked ones included, by signed date.

        The platform and auditors see all; a sharing party sees only its own.
        :raises PermissionDenied: for other roles (logged).
        """
        return sharing.list_agreements(self.services, principal=principal, party=party)

    def share(
        self,
        number: str,
        *,
        principal: Principal,
        agreement_id: str | None = None,
        purpose: str | None = None,
    ) -> SharedCertificate:
        """A sharing party's query for one certificate (rule article 16).

        Needs an agreement of the party (``principal.name``) that is active now and covers the
        certificate's authority: the one named, or else the most recently signed such one. The
        answer holds only the fields it grants; the access is logged as ``share`` with the
        agreement's id.

        :returns: :class:`bdcert.sharing.SharedCertificate`: ``number``, ``agreement_id``,
            ``fields`` (granted field -> JSON value).
        :raises PermissionDenied: not a sharing party, or no such agreement, or it is expired,
            not yet valid, revoked or does not cover the authority; logged as ``deny`` with the
            agreement id(s). An unknown number is denied too unless an agreement is active.
        :raises NotFound: an active agreement, but no certificate with this number (logged).
        :raises ValidationError: a blank ``purpose`` (申请事由; when given, it is logged with the
            access or the refusal).
        """
        return sharing.share(
            self.services, number, principal=principal, agreement_id=agreement_id, purpose=purpose
        )

    def search_shared(
        self,
        *,
        principal: Principal,
        unit: str | None = None,
        holder_name: str | None = None,
        holder_id: str | None = None,
        purpose: str | None = None,
    ) -> list[SharedCertificate]:
        """A sharing party's search (检索, rule article 16): the certificates in force on the
        不动产单元 ``unit`` and/or listing ``holder_id`` (证件号, any case) among their 权利人,
        narrowed by ``holder_name`` (blanks and width ignored), each as :meth:`share` gives it
        under the party's active agreement covering its authority (signed last); certificates
        no active agreement covers are left out. Logged as one ``search`` event (criteria with
        the name and ID number masked, the ``purpose`` 申请事由 when given, the agreements used,
        the certificates returned).

        :raises ValidationError: neither ``unit`` nor ``holder_id`` (a name alone would walk the
            register), or a blank one, naming each. :raises PermissionDenied: not a sharing
            party, or no active agreement (expired, revoked, not yet valid, none); logged as
            ``deny``.
        """
        return searching.search_shared(
            self.services,
            principal=principal,
            unit=unit,
            holder_name=holder_name,
            holder_id=holder_id,
            purpose=purpose,
        )

    def shared_file(
        self,
        number: str,
        *,
        purpose: str | None,
        principal: Principal,
        agreement_id: str | None = None,
    ) -> bytes:
        """A sharing party downloads a certificate's sealed PDF (文件下载, rule article 16) with
        its purpose (申请事由), under an active agreement covering the authority that grants
        ``file``; logged as ``download`` with the agreement and the purpose (article 17).

        :raises ValidationError: a missing or blank ``purpose`` (nothing logged but the check
            of the role). :raises PermissionDenied: not a sharing party, or no active covering
            agreement granting ``file``; logged as ``deny`` with the purpose.
        :raises NotFound: an active agreement, but no such certificate (logged).
        """
        return searching.shared_file(
            self.services, number, purpose=purpose, principal=principal, agreement_id=agreement_id
        )

    # -- collection (归集, rule article 7 paragraph 2), witnessed audit checkpoints ------------
    def deposit(self, raw: Mapping[str, Any], *, principal: Principal) -> collection.DepositResult:
        """File a certificate a city sealed, once checked (:mod:`bdcert.lifecycle.collection`);
        an exact re-deposit is ``replayed``. :raises ValidationError: every reason, nothing stored.
        :raises IdempotencyConflict: number, token or entry filed with other content.
        :raises PermissionDenied: unless the platform or a registrar of the entry's authority."""
        return collection.deposit(self.services, raw, principal=principal)

    def deposit_event(
        self, number: str, raw: Mapping[str, Any], *, principal: Principal
    ) -> Certificate:
        """A later change (superseded, cancelled, restricted, restriction_lifted) of a deposited
        certificate, logged like the province's own. :raises NotFound: :raises ValidationError:
        :raises PermissionDenied: as :meth:`deposit`."""
        return deposit_events.deposit_event(self.services, number, raw, principal=principal)

    def witness_checkpoints(self, *, principal: Principal) -> list[dict[str, Any]]:
        """Checkpoints to countersign. :raises PermissionDenied: unless platform/auditor/registrar."""
        return collection.witness_checkpoints(self.services, principal=principal)

    def add_countersignature(
        self, pdf: bytes, *, principal: Principal
    ) -> tuple[Countersignature, bool]:
        """Check and keep a witness's countersignature of a checkpoint (:mod:`bdcert.audit.witness`);
        True when new. :raises ValidationError: :raises PermissionDenied: unless the platform or
        a registrar of the witness."""
        return collection.add_countersignature(self.services, pdf, principal=principal)
