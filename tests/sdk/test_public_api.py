"""Every import path used outside ``sdk/`` (by plugins, adapters, the conformance kit, tests,
benchmarks and the docs) on the day the SDK was layered (issue 8), and the public names that
change added (the plugin surface, records, wire, pki, sealing, verify, the kit), keep working.

A name that moves is re-exported from its old module. Add to these tables; never remove from them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import pytest

#: module -> names imported from it (an empty list: the module itself is imported).
PUBLIC = {
    "bdcert": [
        "Closable",
        "DigestSealProvider",
        "DigestSigner",
        "IdentityProvider",
        "Notifier",
        "OfdSealer",
        "SealProvider",
        "SealRequest",
        "SignerSource",
        "Storage",
        "StorageTransaction",
        "__version__",
        "hookimpl",
        "hookspecs",
        "make_plugin_manager",
    ],
    "bdcert.access": [
        "ACTIONS",
        "ORGANISATION_ID_TYPES",
        "authorize",
        "full_view",
        "holds",
        "is_organisation",
        "mask_id_number",
        "mask_name",
        "mask_text",
        "personal_names",
        "redact",
    ],
    "bdcert.audit": [
        "AUTOMATIC",
        "ChainLink",
        "audit_hash",
        "audit_payload",
        "diagnose_chain",
        "register_problems",
    ],
    "bdcert.bounds": [
        "TooComplex",
        "check_pdf",
        "check_xml",
        "check_zip",
        "entry_problems",
    ],
    "bdcert.codes": ["NATIONAL_2024"],
    "bdcert.config": [
        "CONFIG_NAME",
        "LookupPolicy",
        "Workspace",
        "check_settings",
        "load_authorities",
        "unknown_settings",
    ],
    "bdcert.demo_pki": [
        "DEMO_ROOT_NAME",
        "DEMO_SERVICE_URL",
        "DemoCa",
        "DemoPki",
        "issue_seal_certificate",
        "make_demo_pki",
    ],
    "bdcert.demo_ca": ["DemoCa", "issue_tsa_certificate", "make_crl", "revocation_pointers"],
    "bdcert.errors": [
        "BdcertError",
        "ConfigurationError",
        "IdempotencyConflict",
        "IdentityError",
        "MissingDependency",
        "MissingGlyph",
        "NotFound",
        "NotificationError",
        "PermissionDenied",
        "Problem",
        "RenderError",
        "SealServiceUnavailable",
        "SealingError",
        "StorageError",
        "TooManyAttempts",
        "ValidationError",
    ],
    "bdcert.face": ["face_items"],
    "bdcert.fonts": [
        "DEFAULT_FALLBACK_PATHS",
        "DEFAULT_REGULAR_PATH",
        "FontConfig",
        "FontSpec",
        "default_font_config",
        "font_config_from_settings",
    ],
    "bdcert.gm": ["ofd_seal", "seals", "ses", "sm2"],
    "bdcert.gm.ofd": ["NS", "RenderedOfd", "ofd_structure_problems", "read_ofd_text", "write_ofd"],
    "bdcert.gm.ofd_package": ["OfdPackageError", "parse_xml"],
    "bdcert.gm.ofd_seal": ["seal_ofd", "verify_ofd"],
    "bdcert.gm.pdf_sm2": ["check_pdf_sm2", "seal_pdf_sm2"],
    "bdcert.gm.seals": ["create_authority_seal", "current_seal", "list_seals"],
    "bdcert.gm.ses": [
        "CertInfoList",
        "ESPictureInfo",
        "ESPropertyInfoV1",
        "ESPropertyInfoV4",
        "ExtData",
        "SESHeader",
        "SESSignatureV1",
        "SESSignatureV4",
        "SESealV1",
        "SESealV4",
        "SealFormatError",
        "SealInfoV1",
        "SealInfoV4",
        "SealPicture",
        "SealSignRangeV1",
        "SesTime",
        "SignInfoV1",
        "TBSSignV1",
        "TBSSignV4",
    ],
    "bdcert.gm.sm2": [
        "DEFAULT_ID",
        "OID_SM2_WITH_SM3",
        "SM2PrivateKey",
        "SM2PublicKey",
        "signature_to_der",
        "signature_to_raw",
        "sm3",
    ],
    "bdcert.gm.sm2_cms": ["OID_GM_DATA", "OID_GM_SIGNED_DATA", "load_signed_data"],
    "bdcert.gm.sm2_tsp": ["Sm2TimeStampAuthority", "Sm2TimeStamper", "check_timestamp"],
    "bdcert.gm.x509": [
        "make_sm2_certificate",
        "sm2_public_key_of",
        "subject_key_identifier",
        "verify_sm2_certificate_signature",
        "verify_sm2_chain",
    ],
    "bdcert.holders": ["DownloadGuard", "DownloadPolicy"],
    "bdcert.hookspecs": ["hookimpl"],
    "bdcert.identifiers": [
        "business_number_problems",
        "has_visible",
        "check_credit_code",
        "check_resident_id",
        "check_unit_number",
        "format_certificate_number",
        "iso7064_mod37_36",
        "licence_identifier",
        "parse_certificate_number",
    ],
    "bdcert.lifecycle": ["Registry"],
    "bdcert.lifecycle.holders": ["source_key", "unlock"],
    "bdcert.lifecycle.reading": ["SM2_WITH_SM3_DER_HEX", "lookup_key"],
    "bdcert.lifecycle.renewal": ["EvidenceJobs", "StoredRenewal", "renew_all_evidence"],
    "bdcert.lifecycle.sharing": ["active_grant"],
    "bdcert.model": [
        "Areas",
        "AttachedPlan",
        "AuditEvent",
        "Authority",
        "CHINA_TZ",
        "Certificate",
        "CertificateEvent",
        "CertificateKind",
        "CertificateStatus",
        "FaceItem",
        "IssueResult",
        "IssuedCertificate",
        "Outcome",
        "Party",
        "Principal",
        "RegistrationEntry",
        "Restriction",
        "Term",
        "Verdict",
        "VerdictCode",
    ],
    "bdcert.pades": [
        "certificate_pem",
        "load_pkcs12_signer",
        "load_software_signer",
        "run_sync",
        "seal_pdf_with_signer",
    ],
    "bdcert.pki": ["NOT_A_CERTIFICATE", "certificate_ders", "load_certificates"],
    "bdcert.plugins": ["DEFAULT_PLUGINS", "Hooks", "make_plugin_manager"],
    "bdcert.protocols": [
        "AgreementRecords",
        "AuditCheckpoint",
        "AuditRecords",
        "BacklogItem",
        "BacklogRecords",
        "CertificateRecords",
        "Closable",
        "DigestSigner",
        "HolderRecords",
        "IdentityProvider",
        "Notifier",
        "OfdSealer",
        "OutboxRecords",
        "PaperDisposition",
        "RegistrationRecords",
        "SealProvider",
        "SealProviderFactory",
        "SealRequest",
        "SignerSource",
        "Storage",
        "StorageFactory",
        "StorageTransaction",
        "StoredRegistration",
        "UndeliveredEvent",
    ],
    "bdcert.records": [
        "AuditCheckpoint",
        "BacklogItem",
        "DownloadGuard",
        "PaperDisposition",
        "SharedCertificate",
        "SharingAgreement",
        "StoredRegistration",
        "UndeliveredEvent",
    ],
    "bdcert.render": ["PAGE_FURNITURE_RE", "RenderedCertificate", "Renderer", "SEAL_SIZE_MM"],
    "bdcert.render.ofd": ["write_ofd"],
    "bdcert.sealing": ["DigestSealProvider", "LoadedSigner"],
    "bdcert.sealing.evidence": ["DEFAULT_LEVEL", "LEVELS", "Evidence", "local_timestamper"],
    "bdcert.sealing.archive": [
        "EvidenceLapse",
        "evidence_expiry",
        "evidence_lapses",
        "renew_archive_timestamp",
    ],
    "bdcert.sharing": ["SharingAgreement"],
    "bdcert.signatures": ["check_pdf_seal"],
    "bdcert.validation": ["MAX_ENTRY_CHARACTERS", "MAX_TEXT", "parse_entry", "parse_share"],
    "bdcert.verify.ofd": ["verify_ofd"],
    "bdcert.verify.pipeline": ["authority_problem"],
    "bdcert.verify.pades": ["check_pdf_seal"],
    "bdcert.verify.ltv": ["validate_long_term"],
    "bdcert.verify.pdf_sm2": ["check_pdf_sm2"],
    "bdcert.wire": ["DuplicateKeyError", "canonical_json", "converter", "loads"],
    "bdcert_adapters": ["seal_service"],
    "bdcert_adapters.cli": ["main"],
    "bdcert_adapters.seal_service": [
        "ServiceThread",
        "SoftwareSignerSource",
        "make_app",
        "parse_tokens",
        "signer_source_from_workspace",
    ],
    "bdcert_conformance": ["SealProviderContract", "StorageContract"],
    "bdcert_conformance.storage": ["StorageContract"],
    "bdcert_plugins": ["seal_pkcs11", "seal_remote", "seal_software"],
    "bdcert_plugins.identity_local": ["LocalIdentityProvider"],
    "bdcert_plugins.identity_tokens": ["TokenIdentityProvider", "hash_token", "new_token"],
    "bdcert_plugins.notify_webhook": ["WebhookNotifier", "event_body", "verify_signature"],
    "bdcert_plugins.seal_pkcs11": ["Pkcs11SealProvider", "default_module"],
    "bdcert_plugins.seal_remote": ["RemoteSealProvider", "RemoteSettings"],
    "bdcert_plugins.seal_software": ["AuthorityKey", "SoftwareSealProvider"],
    "bdcert_plugins.storage_sql": ["SqlStorage"],
    "bdcert_plugins.storage_sql.checkpoints": ["AUDIT_CHECKPOINT_COUNTER"],
    "bdcert_plugins.storage_sql.codec": ["audit_hash", "audit_payload", "canonical_json"],
    "bdcert_plugins.storage_sql.schema": [
        "AUDIT_COUNTER",
        "audit_checkpoints",
        "audit_events",
        "metadata",
        "sequences",
    ],
    "bdcert_plugins.storage_sql.store": ["ENV_URL", "SqlStorage", "alembic_config", "make_engine"],
}


ENTRY_POINTS = {
    "storage_sql": "bdcert_plugins.storage_sql",
    "seal_software": "bdcert_plugins.seal_software",
    "identity_local": "bdcert_plugins.identity_local",
    "notify_log": "bdcert_plugins.notify_log",
    "seal_pkcs11": "bdcert_plugins.seal_pkcs11",
    "seal_remote": "bdcert_plugins.seal_remote",
    "seal_sm2": "bdcert_plugins.seal_sm2",
    "identity_tokens": "bdcert_plugins.identity_tokens",
    "notify_webhook": "bdcert_plugins.notify_webhook",
}

CONSOLE_SCRIPTS = {
    "bdcert": "bdcert_adapters.cli:main",
    "bdcert-seal-service": "bdcert_adapters.seal_service:main",
}


def _offers(mod: object, name: str) -> bool:
    """``from module import name`` works: an attribute, or a submodule."""
    if hasattr(mod, name):
        return True
    try:
        importlib.import_module(f"{getattr(mod, '__name__', '')}.{name}")
    except ModuleNotFoundError:
        return False
    return True


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_import_path_keeps_working(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not _offers(mod, name)]
    assert not missing, f"{module} no longer offers {missing}"


def test_entry_point_group_keeps_its_nine_names() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="bdcert")}
    assert found == ENTRY_POINTS
    for value in found.values():
        importlib.import_module(value)


def test_console_scripts_keep_their_targets() -> None:
    found = {
        ep.name: ep.value
        for ep in entry_points(group="console_scripts")
        if ep.name in CONSOLE_SCRIPTS
    }
    assert found == CONSOLE_SCRIPTS
    for value in found.values():
        module, _, attr = value.partition(":")
        assert callable(getattr(importlib.import_module(module), attr))
