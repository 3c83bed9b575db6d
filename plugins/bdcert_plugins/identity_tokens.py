"""Token and client-certificate identity provider (``[identity] plugin = "tokens"``).

Maps API tokens and X.509 client certificates to principals with roles (rule article 11): a
registrar of an authority, the provincial platform, holders, sharing parties, auditors. The
workspace file holds only SHA-256 hashes of tokens, never the tokens themselves::

    [identity]
    plugin = "tokens"

    [identity.tokens.city-system-510100]
    sha256 = "<64 hex digits>"                    # hash_token(token)
    roles = ["registrar"]
    authority = "510100"

    [identity.client_certificates.bank-gateway]     # pinned: this exact certificate
    sha256_fingerprint = "5e:1f:…"                  # SHA-256 of the DER certificate, hex
    roles = ["sharing_party"]

    [identity.client_certificates.auditor]          # any certificate with this subject
    subject = "CN=审计员,O=四川省自然资源厅"          # issued by this CA
    issuer_ca = "pki/client-ca.cert.pem"
    roles = ["auditor"]

    [identity.operators.clerk01]                  # for the host's command line only
    roles = ["registrar"]
    authority = "510100"

``authenticate({"token": "…"})`` compares the token's SHA-256 with every configured hash in
constant time. ``authenticate({"client_cert_pem": "…"})`` takes the certificate the TLS layer
received, PEM (the first certificate counts; any after it are ignored), and accepts it when it is
pinned by fingerprint, or when its subject matches (the same attributes and values, in any order)
and ``issuer_ca`` signed it directly (name there the CA that issues the client certificates, an
intermediate if there is one; a file may hold several). Either way the certificate must be within
its validity period and, when it lists extended key usages, be meant for client authentication;
an issuing CA must be within its validity period too.

``authenticate({"operator": "clerk01"})`` accepts a bare operator name listed under
``[identity.operators]``, as the ``local`` plugin does: the command line (``bdcert issue
--operator clerk01``) runs on the registry's own host, where the operating system has already
authenticated its user. The HTTP service never passes such credentials (it authenticates only
tokens and certificates), so a workspace moved from ``local`` to ``tokens`` by ``bdcert tokens
add`` keeps its command-line operators without exposing them to the network.

Tokens should be random (:func:`new_token`), since an unsalted hash of a guessable token can be
reversed by trying guesses. ``python -m bdcert_plugins.identity_tokens`` prints a new token and
the hash to put in the workspace file.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from bdcert.access import ACTIONS
from bdcert.config import unknown_settings
from bdcert.errors import ConfigurationError, IdentityError
from bdcert.hookspecs import hookimpl
from bdcert.model import Principal

if TYPE_CHECKING:  # cryptography is imported where certificates are read: not at plugin load
    from cryptography import x509

__all__ = [
    "KNOWN_ROLES",
    "CertificateRule",
    "TokenIdentityProvider",
    "TokenRule",
    "bdcert_register_identity_providers",
    "hash_token",
    "new_token",
]

#: Every role some action allows (:data:`bdcert.access.ACTIONS`).
KNOWN_ROLES = frozenset().union(*ACTIONS.values())

_SETTINGS = frozenset({"plugin", "tokens", "client_certificates", "operators"})
_OPERATOR_KEYS = frozenset({"roles", "authority", "id_number"})
_TOKEN_KEYS = frozenset({"sha256", "roles", "authority", "id_number"})
_CERT_KEYS = frozenset(
    {"sha256_fingerprint", "subject", "issuer_ca", "roles", "authority", "id_number"}
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


def hash_token(token: str) -> str:
    """The SHA-256 of ``token`` (UTF-8), lower-case hex: what the workspace file holds."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A new random API token (256 bits, URL-safe base64); store only :func:`hash_token` of it."""
    return secrets.token_urlsafe(32)


def _fingerprint(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex()


def _name_key(name: x509.Name) -> tuple[tuple[str, str], ...]:
    """A name's attributes as sorted (OID, value) pairs: equal names in any order compare equal."""
    return tuple(sorted((a.oid.dotted_string, str(a.value)) for a in name))


def _describe(cert: x509.Certificate) -> str:
    return f"{cert.subject.rfc4514_string()} (serial {cert.serial_number:x})"


@attrs.define(frozen=True)
class TokenRule:
    """One ``[identity.tokens.<name>]`` entry. :ivar sha256: lower-case hex SHA-256 of the token."""

    principal: Principal
    sha256: str = attrs.field(repr=False)


@attrs.define(frozen=True)
class CertificateRule:
    """One ``[identity.client_certificates.<name>]`` entry.

    :ivar fingerprint: lower-case hex SHA-256 of the pinned DER certificate, or None.
    :ivar subject: the subject's attributes as sorted (OID, value) pairs, or None.
    :ivar issuers: the CA certificates that may sign a certificate with ``subject``.
    """

    principal: Principal
    fingerprint: str | None = None
    subject: tuple[tuple[str, str], ...] | None = None
    subject_text: str = ""
    issuers: tuple[x509.Certificate, ...] = ()


class TokenIdentityProvider:
    """Authenticates API tokens (by SHA-256) and X.509 client certificates.

    :param tokens: the token rules.
    :param certificates: the client certificate rules, in the order of the workspace file.
    :param operators: command-line operators by name (``{"operator": name}`` credentials).
    :param clock: the current time (aware), for certificate validity; default now.
    """

    name = "tokens"

    def __init__(
        self,
        tokens: Iterable[TokenRule] = (),
        certificates: Iterable[CertificateRule] = (),
        *,
        operators: Mapping[str, Principal] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._tokens = tuple((rule.principal, bytes.fromhex(rule.sha256)) for rule in tokens)
        self.operators = dict(operators or {})
        self._certificates = tuple(certificates)
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- settings ----------------------------------------------------------------------------

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, Any],
        workspace: Path,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> TokenIdentityProvider:
        """The provider an ``[identity]`` table describes (see the module docstring).

        :raises ConfigurationError: naming every unknown setting, bad role, malformed hash,
            registrar without an authority and unreadable or unsuitable ``issuer_ca``.
        """
        problems: list[str] = []
        problems.extend(unknown_settings("identity", settings, _SETTINGS))
        tokens: list[TokenRule] = []
        for name, spec in _tables(settings, "tokens", problems):
            where = f"tokens.{name}"
            problems.extend(unknown_settings(f"identity.{where}", spec, _TOKEN_KEYS))
            digest = str(spec.get("sha256", "")).strip().lower()
            if not _HEX64.fullmatch(digest):
                problems.append(f"{where}.sha256 must be 64 hex digits (the SHA-256 of the token)")
            elif any(t.sha256 == digest for t in tokens):
                problems.append(f"{where}.sha256 is the same as another token's")
            principal = _principal(name, spec, where, problems)
            tokens.append(TokenRule(principal, digest))
        rules: list[CertificateRule] = []
        for name, spec in _tables(settings, "client_certificates", problems):
            where = f"client_certificates.{name}"
            problems.extend(unknown_settings(f"identity.{where}", spec, _CERT_KEYS))
            principal = _principal(name, spec, where, problems)
            rule = _certificate_rule(principal, spec, where, workspace, problems)
            if rule is not None:
                rules.append(rule)
        operators: dict[str, Principal] = {}
        for name, spec in _tables(settings, "operators", problems):
            where = f"operators.{name}"
            problems.extend(unknown_settings(f"identity.{where}", spec, _OPERATOR_KEYS))
            operators[name] = _principal(name, spec, where, problems)
        if problems:
            raise ConfigurationError("identity.tokens: " + "; ".join(problems))
        return cls(tokens, rules, operators=operators, clock=clock)

    # -- authentication ----------------------------------------------------------------------

    def authenticate(self, credentials: Mapping[str, str]) -> Principal:
        """The principal of ``{"token": …}``, ``{"client_cert_pem": …}`` or (the command line's)
        ``{"operator": …}``.

        :raises IdentityError: for an unknown token (the message never contains it), an unknown,
            expired, not yet valid or wrongly issued certificate, an unknown operator, or
            credentials of no kind or of several.
        """
        token = credentials.get("token")
        pem = credentials.get("client_cert_pem")
        operator = credentials.get("operator")
        if sum(x is not None for x in (token, pem, operator)) > 1:
            raise IdentityError("give one of a token, a client certificate or an operator name")
        if operator is not None:
            if not isinstance(operator, str) or operator not in self.operators:
                raise IdentityError(f"unknown operator {operator!r}")
            return self.operators[operator]
        if token is not None:
            return self._by_token(token)
        if pem is not None:
            return self._by_certificate(pem)
        raise IdentityError(
            "the tokens identity provider needs credentials with 'token', 'client_cert_pem' "
            "or 'operator'"
        )

    def _by_token(self, token: str) -> Principal:
        if not isinstance(token, str) or not token:
            raise IdentityError("empty API token")
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found: Principal | None = None
        for principal, expected in self._tokens:  # compare with every hash, in constant time
            if hmac.compare_digest(digest, expected):
                found = principal
        if found is None:
            raise IdentityError("unknown API token")
        return found

    def _by_certificate(self, pem: str) -> Principal:
        from cryptography import x509

        try:
            chain = x509.load_pem_x509_certificates(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise IdentityError("client_cert_pem is not a PEM certificate") from None
        cert = chain[0]
        now = self._clock()
        fingerprint = _fingerprint(cert).encode("ascii")
        for rule in self._certificates:
            if rule.fingerprint is not None and hmac.compare_digest(
                fingerprint, rule.fingerprint.encode("ascii")
            ):
                self._check_usable(cert, now)
                return rule.principal
        subject = _name_key(cert.subject)
        candidates = [r for r in self._certificates if r.subject == subject]
        if not candidates:
            raise IdentityError(f"client certificate {_describe(cert)} is not known")
        self._check_usable(cert, now)
        for rule in candidates:
            for issuer in rule.issuers:
                if _issued_by(cert, issuer) and _valid_at(issuer, now):
                    return rule.principal
        raise IdentityError(
            f"client certificate {_describe(cert)} was not issued by the CA configured for "
            f"{', '.join(r.principal.name for r in candidates)} (or that CA is not valid now)"
        )

    @staticmethod
    def _check_usable(cert: x509.Certificate, now: datetime) -> None:
        from cryptography import x509
        from cryptography.x509.oid import ExtendedKeyUsageOID

        if now < cert.not_valid_before_utc:
            raise IdentityError(
                f"client certificate {_describe(cert)} is not valid before "
                f"{cert.not_valid_before_utc.isoformat()}"
            )
        if now > cert.not_valid_after_utc:
            raise IdentityError(
                f"client certificate {_describe(cert)} expired on "
                f"{cert.not_valid_after_utc.isoformat()}"
            )
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return
        if not {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(
            usages
        ):
            raise IdentityError(
                f"client certificate {_describe(cert)} is not for client authentication "
                "(its extended key usage lacks clientAuth)"
            )

    def __repr__(self) -> str:
        return (
            f"TokenIdentityProvider(tokens={[p.name for p, _ in self._tokens]}, "
            f"client_certificates={[r.principal.name for r in self._certificates]}, "
            f"operators={sorted(self.operators)})"
        )


def _tables(
    settings: Mapping[str, Any], key: str, problems: list[str]
) -> list[tuple[str, Mapping[str, Any]]]:
    value = settings.get(key, {})
    if not isinstance(value, Mapping):
        problems.append(f"{key} must be a table of named entries")
        return []
    out = []
    for name, spec in value.items():
        if isinstance(spec, Mapping):
            out.append((str(name), spec))
        else:
            problems.append(f"{key}.{name} must be a table")
    return out


def _principal(name: str, spec: Mapping[str, Any], where: str, problems: list[str]) -> Principal:
    raw_roles = spec.get("roles", [])
    if not isinstance(raw_roles, list | tuple) or not all(isinstance(r, str) for r in raw_roles):
        problems.append(f"{where}.roles must be a list of role names")
        raw_roles = []
    roles = frozenset(raw_roles)
    if not roles:
        problems.append(f"{where}.roles must list one or more of {', '.join(sorted(KNOWN_ROLES))}")
    bad = sorted(roles - KNOWN_ROLES)
    if bad:
        problems.append(
            f"{where}.roles: unknown {', '.join(bad)} (known: {', '.join(sorted(KNOWN_ROLES))})"
        )
    authority = spec.get("authority")
    if authority is not None and not isinstance(authority, str | int):
        problems.append(f'{where}.authority must be an authority code such as "510100"')
        authority = None
    if "registrar" in roles and not authority:
        problems.append(f"{where}: a registrar needs an authority")
    id_number = spec.get("id_number")  # a holder's 证件号: their own certificates in full
    if id_number is not None and (not isinstance(id_number, str) or not id_number.strip()):
        problems.append(f"{where}.id_number must be a 证件号 string")
        id_number = None
    return Principal(name, roles, str(authority) if authority else None, id_number=id_number)


def _certificate_rule(
    principal: Principal,
    spec: Mapping[str, Any],
    where: str,
    workspace: Path,
    problems: list[str],
) -> CertificateRule | None:
    from cryptography import x509

    pinned = "sha256_fingerprint" in spec
    by_subject = "subject" in spec or "issuer_ca" in spec
    if pinned == by_subject:
        problems.append(
            f"{where} needs either sha256_fingerprint, or subject together with issuer_ca"
        )
        return None
    if pinned:
        digest = str(spec["sha256_fingerprint"]).replace(":", "").strip().lower()
        if not _HEX64.fullmatch(digest):
            problems.append(
                f"{where}.sha256_fingerprint must be the SHA-256 of the DER certificate "
                "(64 hex digits, colons allowed)"
            )
            return None
        return CertificateRule(principal, fingerprint=digest)
    subject_text = spec.get("subject")
    ca_path = spec.get("issuer_ca")
    if not isinstance(subject_text, str) or not subject_text.strip():
        problems.append(f'{where}.subject must be a distinguished name such as "CN=…,O=…"')
        return None
    if not isinstance(ca_path, str) or not ca_path.strip():
        problems.append(f"{where}.issuer_ca must name the PEM file of the issuing CA")
        return None
    try:
        subject = x509.Name.from_rfc4514_string(subject_text)
    except ValueError as exc:
        problems.append(f"{where}.subject {subject_text!r} is not a distinguished name: {exc}")
        return None
    path = Path(workspace) / ca_path
    try:
        issuers = tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except OSError as exc:
        problems.append(f"{where}.issuer_ca: cannot read {path}: {exc.strerror or exc}")
        return None
    except ValueError:
        problems.append(f"{where}.issuer_ca: {path} holds no PEM certificate")
        return None
    for ca in issuers:
        try:
            is_ca = ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            problems.append(
                f"{where}.issuer_ca: {ca.subject.rfc4514_string()} in {path} is not a CA "
                "certificate (no basicConstraints cA=TRUE)"
            )
            return None
    return CertificateRule(
        principal, subject=_name_key(subject), subject_text=subject_text, issuers=issuers
    )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


@hookimpl
def bdcert_register_identity_providers(register: Any) -> None:
    """Register the ``tokens`` identity provider."""
    register("tokens", TokenIdentityProvider.from_settings)


if __name__ == "__main__":  # pragma: no cover - a helper for administrators
    _token = new_token()
    print(f"token:  {_token}\nsha256: {hash_token(_token)}")
