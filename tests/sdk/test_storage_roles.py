"""``StorageTransaction`` is composed of role protocols (issue 8) without changing what an
implementation provides: the same 47 methods, each in exactly one role; issue 9 added two
(``save_download_code``, ``download_codes``: self-download's second factor), and issue 9's
evidence renewal two more (``certificate_numbers``, ``replace_pdf``)."""

from __future__ import annotations

import inspect

from bdcert import protocols

ROLES = (
    protocols.RegistrationRecords,
    protocols.CertificateRecords,
    protocols.AuditRecords,
    protocols.OutboxRecords,
    protocols.BacklogRecords,
    protocols.HolderRecords,
    protocols.AgreementRecords,
)

#: The methods StorageTransaction declared before it was split into roles, and those added since.
METHODS = {
    "add_agreement", "add_audit_checkpoint", "add_backlog", "add_certificate", "add_ofd",
    "add_paper_disposition", "add_registration", "add_restriction", "add_undelivered",
    "add_unit_restriction", "agreements", "append_audit", "audit_checkpoints",
    "audit_checkpoints_made", "audit_event_hash", "audit_events", "audit_head", "backlog",
    "certificates_for_holder", "certificates_for_unit", "download_guard",
    "find_certificate_by_digest", "find_certificate_by_token", "finish_backlog", "get_agreement",
    "get_backlog", "get_certificate", "get_ofd", "get_pdf", "get_registration",
    "last_audit_checkpoint", "mark_delivered", "next_audit_checkpoint_number", "next_sequence",
    "next_waiting", "paper_dispositions", "record_backlog_failure", "record_delivery_failure",
    "revoke_agreement", "save_download_guard", "set_cancelled", "set_superseded",
    "uncheckpointed_audit_events", "undelivered", "unit_restrictions", "verify_audit_chain",
    "waiting_authorities",
} | {"download_codes", "save_download_code"} | {
    "certificate_numbers", "replace_pdf",  # the evidence renewal job walks and renews the register
}  # fmt: skip


def _own(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if inspect.isfunction(v) and not n.startswith("_")}


def test_the_roles_partition_the_transaction_methods() -> None:
    seen: set[str] = set()
    for role in ROLES:
        assert role in protocols.StorageTransaction.__mro__
        own = _own(role)
        assert own, f"{role.__name__} declares nothing"
        assert not own & seen, f"{sorted(own & seen)} in two roles"
        seen |= own
    assert seen == METHODS
    assert not _own(protocols.StorageTransaction)


def test_the_sql_transaction_still_provides_every_method() -> None:
    from bdcert_plugins.storage_sql.store import SqlTransaction

    missing = sorted(m for m in METHODS if not callable(getattr(SqlTransaction, m, None)))
    assert missing == []
