"""The ``tokens`` identity provider: API tokens by hash, X.509 client certificates."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pluggy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bdcert.errors import ConfigurationError, IdentityError
from bdcert.model import Principal
from bdcert.plugins import Hooks
from bdcert.protocols import IdentityProvider
from bdcert_plugins.identity_tokens import TokenIdentityProvider, hash_token, new_token

NOW = datetime.now(UTC).replace(microsecond=0)  # the hook test uses the real clock
CLERK_TOKEN = "tok-clerk-4f9a1c0e8b7d6a5f"
AUDIT_TOKEN = "tok-audit-0b1c2d3e4f5a6b7c"


# -- a small PKI, built with cryptography ----------------------------------------------------


@attrs.define(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _name(**attrs_: str) -> x509.Name:
    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "C": NameOID.COUNTRY_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attrs_.items()])


def make_ca(cn: str, *, not_after: datetime = NOW + timedelta(days=3650)) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(C="CN", O="四川省自然资源厅", CN=cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=365))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_client(
    ca: Issued,
    *,
    cn: str = "成都市不动产登记中心接口",
    org: str = "成都市不动产登记中心",
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=365),
    usages: Iterable[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CLIENT_AUTH,),
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(C="CN", O=org, CN=cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca("bdcert test client CA")


@pytest.fixture(scope="module")
def client(ca: Issued) -> Issued:
    return make_client(ca)


@pytest.fixture
def workspace(tmp_path: Path, ca: Issued) -> Path:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "client-ca.cert.pem").write_text(ca.pem, encoding="ascii")
    return tmp_path


SUBJECT = "CN=成都市不动产登记中心接口,O=成都市不动产登记中心,C=CN"


def settings(**extra: Any) -> dict[str, Any]:
    return {
        "tokens": {
            "clerk-510100": {
                "sha256": hash_token(CLERK_TOKEN),
                "roles": ["registrar"],
                "authority": "510100",
            },
            "auditor": {"sha256": hash_token(AUDIT_TOKEN).upper(), "roles": ["auditor"]},
        },
        "client_certificates": {
            "city-system": {
                "subject": SUBJECT,
                "issuer_ca": "pki/client-ca.cert.pem",
                "roles": ["registrar"],
                "authority": 510100,  # TOML integers are accepted for codes
            },
        },
        **extra,
    }


def provider(workspace: Path, **extra: Any) -> TokenIdentityProvider:
    return TokenIdentityProvider.from_settings(settings(**extra), workspace, clock=lambda: NOW)


# -- tokens ----------------------------------------------------------------------------------


def test_hash_token_is_sha256_hex() -> None:
    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert hash_token("令牌") == hashlib.sha256("令牌".encode()).hexdigest()
    token = new_token()
    assert len(token) >= 43 and token != new_token()


def test_tokens_map_to_principals(workspace: Path) -> None:
    ids = provider(workspace)
    assert isinstance(ids, IdentityProvider)
    assert ids.authenticate({"token": CLERK_TOKEN}) == Principal(
        "clerk-510100", {"registrar"}, "510100"
    )
    assert ids.authenticate({"token": AUDIT_TOKEN}) == Principal("auditor", {"auditor"}, None)


@pytest.mark.parametrize(
    "token", [CLERK_TOKEN + "x", CLERK_TOKEN[:-1], CLERK_TOKEN.upper(), hash_token(CLERK_TOKEN)]
)
def test_wrong_token_is_rejected_without_echoing_it(workspace: Path, token: str) -> None:
    with pytest.raises(IdentityError) as raised:
        provider(workspace).authenticate({"token": token})
    assert str(raised.value) == "unknown API token"
    assert token not in str(raised.value)


def test_missing_or_mixed_credentials_are_rejected(workspace: Path, client: Issued) -> None:
    ids = provider(workspace)
    with pytest.raises(IdentityError, match="empty"):
        ids.authenticate({"token": ""})
    with pytest.raises(IdentityError, match="'token', 'client_cert_pem' or 'operator'"):
        ids.authenticate({"password": "x"})
    with pytest.raises(IdentityError, match="unknown operator 'clerk01'"):
        ids.authenticate({"operator": "clerk01"})  # none configured
    with pytest.raises(IdentityError, match="give one of"):
        ids.authenticate({"token": CLERK_TOKEN, "client_cert_pem": client.pem})
    with pytest.raises(IdentityError, match="give one of"):
        ids.authenticate({"token": CLERK_TOKEN, "operator": "clerk01"})


def test_command_line_operators_authenticate_by_name(workspace: Path) -> None:
    """``[identity.operators]`` (kept when ``bdcert tokens add`` switches a local workspace)."""
    config = settings(operators={"clerk01": {"roles": ["registrar"], "authority": "510100"}})
    ids = TokenIdentityProvider.from_settings(config, workspace)
    clerk = ids.authenticate({"operator": "clerk01"})
    assert (clerk.name, clerk.roles, clerk.authority) == ("clerk01", {"registrar"}, "510100")
    with pytest.raises(IdentityError, match="unknown operator"):
        ids.authenticate({"operator": "clerk02"})
    bad = settings(operators={"x": {"roles": ["registrar"], "password": "p"}})
    with pytest.raises(ConfigurationError) as raised:
        TokenIdentityProvider.from_settings(bad, workspace)
    assert "operators.x.password is not a known setting" in str(raised.value)
    assert "operators.x: a registrar needs an authority" in str(raised.value)


def test_config_holds_no_token_and_repr_shows_names_only(workspace: Path) -> None:
    ids = provider(workspace)
    text = repr(ids)
    assert "clerk-510100" in text and "city-system" in text
    assert hash_token(CLERK_TOKEN) not in text and CLERK_TOKEN not in text


# -- client certificates ---------------------------------------------------------------------


def test_client_certificate_with_subject_and_issuer_maps_to_principal(
    workspace: Path, client: Issued
) -> None:
    assert provider(workspace).authenticate({"client_cert_pem": client.pem}) == Principal(
        "city-system", {"registrar"}, "510100"
    )


def test_subject_attributes_may_be_written_in_any_order(workspace: Path, client: Issued) -> None:
    reordered = settings()
    reordered["client_certificates"]["city-system"]["subject"] = (
        "C=CN,O=成都市不动产登记中心,CN=成都市不动产登记中心接口"
    )
    ids = TokenIdentityProvider.from_settings(reordered, workspace, clock=lambda: NOW)
    assert ids.authenticate({"client_cert_pem": client.pem}).name == "city-system"


def test_certificate_with_other_subject_is_unknown(workspace: Path, ca: Issued) -> None:
    other = make_client(ca, cn="某银行接口")
    with pytest.raises(IdentityError, match="is not known"):
        provider(workspace).authenticate({"client_cert_pem": other.pem})


def test_same_subject_from_another_ca_is_rejected(workspace: Path) -> None:
    impostor = make_client(make_ca("bdcert test client CA"))  # same CA name, other key
    with pytest.raises(IdentityError, match="not issued by the CA configured for city-system"):
        provider(workspace).authenticate({"client_cert_pem": impostor.pem})


def test_expired_and_not_yet_valid_certificates_are_rejected(workspace: Path, ca: Issued) -> None:
    expired = make_client(
        ca, not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1)
    )
    with pytest.raises(IdentityError, match="expired on"):
        provider(workspace).authenticate({"client_cert_pem": expired.pem})
    future = make_client(ca, not_before=NOW + timedelta(days=1))
    with pytest.raises(IdentityError, match="not valid before"):
        provider(workspace).authenticate({"client_cert_pem": future.pem})


def test_expired_issuer_ca_is_rejected(tmp_path: Path) -> None:
    old_ca = make_ca("old CA", not_after=NOW - timedelta(days=1))
    (tmp_path / "old-ca.pem").write_text(old_ca.pem, encoding="ascii")
    config = settings()
    config["client_certificates"]["city-system"]["issuer_ca"] = "old-ca.pem"
    ids = TokenIdentityProvider.from_settings(config, tmp_path, clock=lambda: NOW)
    with pytest.raises(IdentityError, match="not valid now"):
        ids.authenticate({"client_cert_pem": make_client(old_ca).pem})


def test_certificate_for_another_purpose_is_rejected(workspace: Path, ca: Issued) -> None:
    server_only = make_client(ca, usages=[ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(IdentityError, match="not for client authentication"):
        provider(workspace).authenticate({"client_cert_pem": server_only.pem})
    no_usage_listed = make_client(ca, usages=None)
    assert provider(workspace).authenticate({"client_cert_pem": no_usage_listed.pem})


def test_pinned_fingerprint_maps_to_principal(workspace: Path) -> None:
    stranger = make_client(make_ca("a bank's own CA"), cn="某银行接口", org="某银行")
    colons = ":".join(
        stranger.fingerprint[i : i + 2] for i in range(0, 64, 2)
    ).upper()  # as openssl x509 -fingerprint prints it
    config = settings()
    config["client_certificates"]["bank"] = {
        "sha256_fingerprint": colons,
        "roles": ["sharing_party"],
    }
    ids = TokenIdentityProvider.from_settings(config, workspace, clock=lambda: NOW)
    assert ids.authenticate({"client_cert_pem": stranger.pem}) == Principal(
        "bank", {"sharing_party"}, None
    )
    # another certificate with the same subject and key holder, but not the pinned one
    again = make_client(make_ca("a bank's own CA"), cn="某银行接口", org="某银行")
    with pytest.raises(IdentityError, match="is not known"):
        ids.authenticate({"client_cert_pem": again.pem})
    # a pinned certificate must still be within its validity period
    later = TokenIdentityProvider.from_settings(
        config, workspace, clock=lambda: NOW + timedelta(days=400)
    )
    with pytest.raises(IdentityError, match="expired"):
        later.authenticate({"client_cert_pem": stranger.pem})


def test_garbage_pem_is_an_identity_error(workspace: Path) -> None:
    for pem in (
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ):
        with pytest.raises(IdentityError, match="not a PEM certificate"):
            provider(workspace).authenticate({"client_cert_pem": pem})


# -- settings --------------------------------------------------------------------------------


def test_unknown_settings_are_named(workspace: Path) -> None:
    config = settings(users={})
    config["tokens"]["auditor"]["token"] = "plaintext"
    config["client_certificates"]["city-system"]["issuer"] = "x"
    with pytest.raises(ConfigurationError) as raised:
        TokenIdentityProvider.from_settings(config, workspace)
    message = str(raised.value)
    assert "users is not a known setting" in message
    assert "tokens.auditor.token is not a known setting" in message
    assert "client_certificates.city-system.issuer is not a known setting" in message
    assert "plaintext" not in message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"sha256": "abc", "roles": ["auditor"]}, "64 hex digits"),
        ({"sha256": hash_token("t"), "roles": ["clerk"]}, "unknown clerk"),
        ({"sha256": hash_token("t"), "roles": []}, "one or more of"),
        ({"sha256": hash_token("t"), "roles": "auditor"}, "list of role names"),
        ({"sha256": hash_token("t"), "roles": ["registrar"]}, "a registrar needs an authority"),
        ({"sha256": hash_token(AUDIT_TOKEN), "roles": ["holder"]}, "same as another token's"),
    ],
)
def test_bad_token_entries_are_configuration_errors(
    workspace: Path, spec: dict[str, Any], expected: str
) -> None:
    config = settings()
    config["tokens"]["new"] = spec
    with pytest.raises(ConfigurationError, match=expected):
        TokenIdentityProvider.from_settings(config, workspace)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"roles": ["auditor"]}, "either sha256_fingerprint, or subject"),
        (
            {"sha256_fingerprint": "00" * 32, "subject": "CN=x", "roles": ["auditor"]},
            "either sha256_fingerprint",
        ),
        ({"sha256_fingerprint": "xyz", "roles": ["auditor"]}, "64 hex digits"),
        ({"subject": "CN=x", "roles": ["auditor"]}, "issuer_ca must name"),
        ({"subject": "CN=x", "issuer_ca": "missing.pem", "roles": ["auditor"]}, "cannot read"),
        (
            {
                "subject": "no equals sign",
                "issuer_ca": "pki/client-ca.cert.pem",
                "roles": ["auditor"],
            },
            "not a distinguished name",
        ),
        ({"subject": "CN=x", "issuer_ca": "leaf.pem", "roles": ["auditor"]}, "is not a CA"),
        ({"subject": "CN=x", "issuer_ca": "junk.pem", "roles": ["auditor"]}, "no PEM certificate"),
    ],
)
def test_bad_certificate_entries_are_configuration_errors(
    workspace: Path, client: Issued, spec: dict[str, Any], expected: str
) -> None:
    (workspace / "leaf.pem").write_text(client.pem, encoding="ascii")
    (workspace / "junk.pem").write_text("junk", encoding="ascii")
    config = settings()
    config["client_certificates"]["new"] = spec
    with pytest.raises(ConfigurationError, match=expected):
        TokenIdentityProvider.from_settings(config, workspace)


def test_issuer_ca_may_be_a_bundle(workspace: Path, ca: Issued, client: Issued) -> None:
    bundle = make_ca("another CA").pem + ca.pem
    (workspace / "bundle.pem").write_text(bundle, encoding="ascii")
    config = settings()
    config["client_certificates"]["city-system"]["issuer_ca"] = "bundle.pem"
    ids = TokenIdentityProvider.from_settings(config, workspace, clock=lambda: NOW)
    assert ids.authenticate({"client_cert_pem": client.pem}).name == "city-system"


def test_empty_settings_authenticate_nobody(tmp_path: Path) -> None:
    ids = TokenIdentityProvider.from_settings({"plugin": "tokens"}, tmp_path)
    with pytest.raises(IdentityError):
        ids.authenticate({"token": CLERK_TOKEN})


def test_hook_registers_the_tokens_provider(
    pm: pluggy.PluginManager, workspace: Path, client: Issued
) -> None:
    factory = Hooks(pm).identity_providers().get("tokens")
    ids = factory(settings(), workspace)
    assert ids.name == "tokens"
    assert ids.authenticate({"token": CLERK_TOKEN}).authority == "510100"
    assert ids.authenticate({"client_cert_pem": client.pem}).name == "city-system"
