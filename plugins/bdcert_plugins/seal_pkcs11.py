"""Seal provider ``pkcs11``: seal keys that never leave a PKCS#11 token (HSM, smart card, SoftHSM2).

Workspace settings (the ``[seal]`` table; file paths relative to the workspace directory)::

    [seal]
    plugin = "pkcs11"
    module = "/usr/lib/softhsm/libsofthsm2.so"  # the token's PKCS#11 library (default: SoftHSM2's)
    token_label = "bdcert"                      # the token, by its label (CKA_LABEL of the token)
    pin_env = "BDCERT_PKCS11_PIN"               # environment variable holding the user PIN (default)
    # pin = "…"                                 # or the PIN itself: allowed, discouraged

    [seal.authorities.510100]
    key_label = "seal-510100"           # the private key object's CKA_LABEL on the token
    cert = "pki/510100.cert.pem"        # the seal certificate from a file (PEM or DER) …
    # cert_label = "seal-510100"        # … or from a certificate object on the token
    chain = ["pki/root.cert.pem"]       # intermediate and root certificates, embedded in each seal

``module`` defaults to the first of :data:`DEFAULT_MODULES` that exists (Debian's SoftHSM2).

Behaviour. The provider opens one session on the token lazily, on the first seal, logs in once
(``C_Login`` with the user PIN) and reuses that session for every later seal and every authority;
:meth:`Pkcs11SealProvider.close` logs out and closes it (a later seal opens a new one). Token
operations are serialised by a lock, so one provider may be shared by threads; the PDF work
around them runs in parallel. A session the token drops (HSM restarted, token removed:
``CKR_SESSION_HANDLE_INVALID``, ``CKR_USER_NOT_LOGGED_IN``, …) is reopened once, transparently.
ECDSA keys sign with ``CKM_ECDSA`` over a SHA-256 digest computed on the host (SoftHSM2 and many
HSMs lack ``CKM_ECDSA_SHA256``); RSA keys with ``CKM_SHA256_RSA_PKCS``. When an authority's key is
first used, one test signature is verified against its seal certificate.

The PIN is read when the session is opened (from ``pin_env``, or ``pin``) and handed to the token;
it is never logged, never part of an error message and never shown in a repr. A PIN the token
rejects is not tried again (tokens lock the PIN after a few wrong tries): later seals fail at once
until the PIN in the environment (or the settings) changes. PKCS#11 logs in an
application, not a session: a second provider of this process on the same token finds the user
already logged in and shares that login (without checking its own PIN).

Errors: a missing python-pkcs11 is :class:`~bdcert.errors.MissingDependency` (install
``bdcert[hsm]``) and malformed settings a :class:`~bdcert.errors.ConfigurationError`, both raised
when the provider is built. When it is used: a missing library, a token not found (the message
lists the token labels present), an unset PIN variable, a wrong or locked PIN
(``CKR_PIN_INCORRECT``, ``CKR_PIN_LOCKED``), a key or certificate label not on the token (the
message lists the labels present), a key that does not belong to its certificate, or an expired
certificate are each a :class:`~bdcert.errors.SealingError` saying which.
"""

from __future__ import annotations

import hmac
import importlib
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from bdcert import pki
from bdcert.config import check_settings
from bdcert.errors import ConfigurationError, MissingDependency, SealingError
from bdcert.hookspecs import hookimpl
from bdcert.protocols import SealProviderFactory, SealRequest
from bdcert.sealing import DigestSealProvider, LoadedSigner

if TYPE_CHECKING:
    from bdcert_plugins.pkcs11_signer import TokenSigner

# python-pkcs11, pyHanko and asn1crypto are imported when the token is first used, not here:
# every command of the command line loads this module through the entry points.

__all__ = [
    "DEFAULT_MODULES",
    "DEFAULT_PIN_ENV",
    "AuthorityToken",
    "Pkcs11SealProvider",
    "SessionLost",
    "bdcert_register_seal_providers",
    "default_module",
    "describe_error",
    "is_session_lost",
]

log = logging.getLogger(__name__)

#: Where Debian and Ubuntu install SoftHSM2's PKCS#11 library, tried in this order.
DEFAULT_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)

#: The environment variable read for the user PIN unless ``pin_env`` names another.
DEFAULT_PIN_ENV = "BDCERT_PKCS11_PIN"

_SETTINGS_KEYS = frozenset({"plugin", "module", "token_label", "pin_env", "pin", "authorities"})
_AUTHORITY_KEYS = frozenset({"key_label", "cert", "cert_label", "chain"})

#: Signed once per authority key when first loaded, to prove the key belongs to the certificate.
_PROBE = b"bdcert: does this token key belong to the seal certificate?"


def default_module() -> str | None:
    """The first of :data:`DEFAULT_MODULES` that exists, or None."""
    return next((m for m in DEFAULT_MODULES if Path(m).is_file()), None)


def _require_pkcs11() -> Any:
    """Import python-pkcs11 (and pyHanko's PKCS#11 helpers). :raises MissingDependency:"""
    try:
        pkcs11 = importlib.import_module("pkcs11")
        importlib.import_module("pyhanko.sign.pkcs11")
    except ImportError as e:
        raise MissingDependency(
            "the pkcs11 seal provider needs python-pkcs11: pip install 'bdcert[hsm]'"
        ) from e
    return pkcs11


def describe_error(error: BaseException) -> str:
    """A PKCS#11 error as ``Name`` or ``Name: message`` (python-pkcs11 names errors by class)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _labels(labels: Sequence[str]) -> str:
    return ", ".join(repr(label) for label in sorted(set(labels))) or "none"


class _Pin:
    """A PIN that does not show itself: repr and str are ``<hidden>``; it cannot be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self, key: bytes) -> bytes:
        """HMAC-SHA-256 of the PIN under ``key``: to recognise a PIN again without keeping it."""
        return hmac.digest(key, self._value.encode("utf-8"), "sha256")

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a PIN cannot be pickled")


class SessionLost(SealingError):
    """The token dropped the session (device removed, restarted, logged out): reopen and retry."""


def is_session_lost(error: BaseException) -> bool:
    """Whether a PKCS#11 error means the session (or its login) is gone rather than a refusal."""
    import pkcs11.exceptions as p11e

    lost = (
        p11e.SessionHandleInvalid,
        p11e.SessionClosed,
        p11e.DeviceRemoved,
        p11e.DeviceError,
        p11e.TokenNotPresent,
        p11e.TokenNotRecognised,
        p11e.UserNotLoggedIn,
        p11e.KeyHandleInvalid,
        p11e.ObjectHandleInvalid,
    )
    return isinstance(error, lost)


def _open_session(token: Any, pin: _Pin) -> Any:
    """Open a read-only session on ``token`` and log the user in with ``pin`` (one ``C_Login``).

    The PIN is revealed only inside the call to python-pkcs11, so no Python frame (as shown in a
    traceback with locals) holds it in the clear.

    If this process is already logged in to the token (another provider's session), the new
    session shares that login instead (PKCS#11 logs in applications, not sessions).

    :raises pkcs11.PKCS11Error: e.g. ``PinIncorrect`` or ``PinLocked``; never with the PIN in it.
    """
    from pkcs11.exceptions import UserAlreadyLoggedIn

    try:
        return token.open(user_pin=pin.reveal())
    except UserAlreadyLoggedIn:
        log.info("token %r: this process is already logged in; sharing that login", token.label)
        return token.open()


# --------------------------------------------------------------------------- settings


@attrs.define(frozen=True)
class AuthorityToken:
    """Where one authority's seal lives on the token: ``key_label``, and ``cert`` or ``cert_label``.

    :ivar code: the authority code (登记机构代码), e.g. ``"510100"``.
    :ivar key_label: CKA_LABEL of the private key object.
    :ivar cert: the seal certificate file (PEM or DER), or None when it is read from the token.
    :ivar cert_label: CKA_LABEL of the certificate object on the token, or None.
    :ivar chain: certificate files embedded in each seal (intermediates, root).
    """

    code: str
    key_label: str
    cert: Path | None = None
    cert_label: str | None = None
    chain: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, code: str, settings: Any, workspace: Path) -> AuthorityToken:
        """Parse one ``[seal.authorities.<code>]`` table. :raises ConfigurationError:"""
        where = f"[seal.authorities.{code}]"
        if not isinstance(settings, Mapping):
            raise ConfigurationError(f"{where} must be a table")
        check_settings(f"seal.authorities.{code}", settings, _AUTHORITY_KEYS)
        key_label = settings.get("key_label")
        if not isinstance(key_label, str) or not key_label:
            raise ConfigurationError(f"{where}: key_label (the key's label on the token) is needed")
        cert, cert_label = settings.get("cert"), settings.get("cert_label")
        if (cert is None) == (cert_label is None):
            raise ConfigurationError(f"{where}: give either cert (a file) or cert_label, not both")
        if cert is not None and (not isinstance(cert, str) or not cert):
            raise ConfigurationError(f"{where}: cert must be a path")
        if cert_label is not None and (not isinstance(cert_label, str) or not cert_label):
            raise ConfigurationError(f"{where}: cert_label must be a label")
        chain = settings.get("chain", [])
        if isinstance(chain, str):
            chain = [chain]
        if not isinstance(chain, list) or not all(isinstance(c, str) and c for c in chain):
            raise ConfigurationError(f"{where}: chain must be a list of paths")
        return cls(
            code=code,
            key_label=key_label,
            cert=None if cert is None else workspace / cert,
            cert_label=cert_label,
            chain=tuple(workspace / c for c in chain),
        )


# --------------------------------------------------------------------------- signer


def _read_certs(path: Path, what: str) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SealingError(f"cannot read the {what} {str(path)!r}: {e.strerror}") from None
    try:
        return pki.load_certificates(data)
    except ValueError:
        raise SealingError(f"the {what} {str(path)!r} {pki.NOT_A_CERTIFICATE}") from None


# --------------------------------------------------------------------------- provider


class Pkcs11SealProvider(DigestSealProvider):
    """A :class:`~bdcert.protocols.SealProvider` whose seal keys stay on a PKCS#11 token.

    Sealing, the per-authority cache and the validity check are
    :class:`~bdcert.sealing.DigestSealProvider`'s; this class adds the token session.

    Build it with :meth:`from_settings` (see the module docstring for the settings, the session
    and the errors). Usable as a context manager that closes the session on exit.

    :param module: path of the PKCS#11 library; None for :func:`default_module` at first use.
    :param token_label: the token's label.
    :param authorities: authority code → :class:`AuthorityToken`.
    :param pin_env: environment variable holding the user PIN, read when the session opens.
    :param pin: the PIN itself (takes the place of ``pin_env``); kept hidden.
    """

    name = "pkcs11"

    def __init__(
        self,
        *,
        module: str | None,
        token_label: str,
        authorities: Mapping[str, AuthorityToken],
        pin_env: str = DEFAULT_PIN_ENV,
        pin: str | None = None,
    ) -> None:
        super().__init__()
        self._module = module
        self._token_label = token_label
        self._authorities = dict(authorities)
        self._pin_env = pin_env
        self._pin = None if pin is None else _Pin(pin)
        self._lock = threading.Lock()
        self._session: Any = None
        self._generation = 0
        # a PIN the token rejected, remembered (as an HMAC under a per-provider random key) so that
        # it is not tried again: tokens lock the user PIN after a few wrong tries
        self._fingerprint_key = os.urandom(32)
        self._rejected_pin: bytes | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], workspace: Path) -> Pkcs11SealProvider:
        """Build from the workspace's ``[seal]`` table (see the module docstring).

        Nothing touches the token yet.

        :raises MissingDependency: if python-pkcs11 is not installed (extra ``bdcert[hsm]``).
        :raises ConfigurationError: naming unknown or malformed settings.
        """
        check_settings("seal", settings, _SETTINGS_KEYS)
        _require_pkcs11()
        workspace = Path(workspace)
        module = settings.get("module")
        if module is not None:
            if not isinstance(module, str) or not module:
                raise ConfigurationError("[seal]: module must be the path of a PKCS#11 library")
            module = str(workspace / module)  # an absolute path stays as it is
        token_label = settings.get("token_label")
        if not isinstance(token_label, str) or not token_label:
            raise ConfigurationError("[seal]: token_label (the label of the token) is needed")
        pin, pin_env = settings.get("pin"), settings.get("pin_env")
        if pin is not None and pin_env is not None:
            raise ConfigurationError("[seal]: give either pin_env or pin, not both")
        if pin is not None:
            if not isinstance(pin, str) or not pin:
                raise ConfigurationError("[seal]: pin must be a string")  # never echo it
            log.warning(
                "[seal] pin is written in the workspace file; prefer pin_env (default %s)",
                DEFAULT_PIN_ENV,
            )
        if pin_env is not None and (not isinstance(pin_env, str) or not pin_env):
            raise ConfigurationError("[seal]: pin_env must name an environment variable")
        authorities = settings.get("authorities", {})
        if not isinstance(authorities, Mapping):
            raise ConfigurationError("[seal]: authorities must be a table of authority codes")
        return cls(
            module=module,
            token_label=token_label,
            authorities={
                str(code): AuthorityToken.from_settings(str(code), value, workspace)
                for code, value in authorities.items()
            },
            pin_env=pin_env or DEFAULT_PIN_ENV,
            pin=pin,
        )

    def __repr__(self) -> str:
        pin = "pin=<hidden>" if self._pin is not None else f"pin_env={self._pin_env!r}"
        return (
            f"Pkcs11SealProvider(module={self._module or default_module()!r}, "
            f"token_label={self._token_label!r}, "
            f"{pin}, authorities={sorted(self._authorities)!r})"
        )

    def __enter__(self) -> Pkcs11SealProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the session ----------------------------------------------------------------------

    def _read_pin(self) -> _Pin:
        if self._pin is not None:
            return self._pin
        value = os.environ.get(self._pin_env)
        if value is None:
            raise SealingError(
                f"the PIN of token {self._token_label!r} is expected in the environment variable"
                f" {self._pin_env}, which is not set"
            )
        return _Pin(value)

    def _pin_source(self) -> str:
        if self._pin is not None:
            return "[seal] pin"
        return f"the environment variable {self._pin_env}"

    def _find_token(self, lib: Any, module: str) -> Any:
        from pkcs11 import TokenFlag
        from pkcs11.exceptions import PKCS11Error

        try:
            slots = lib.get_slots(token_present=True)
        except PKCS11Error as e:
            raise SealingError(f"cannot list the slots of {module}: {describe_error(e)}") from None
        found, present = [], []
        for slot in slots:
            try:
                token = slot.get_token()
            except PKCS11Error:
                continue
            if not token.flags & TokenFlag.TOKEN_INITIALIZED:
                continue
            present.append(token.label)
            if token.label == self._token_label:
                found.append(token)
        if not found:
            raise SealingError(
                f"no token labelled {self._token_label!r} in the PKCS#11 library {module}"
                f" (tokens present: {_labels(present)})"
            )
        if len(found) > 1:
            raise SealingError(
                f"{len(found)} tokens are labelled {self._token_label!r} in {module}; "
                "token labels must be unique"
            )
        return found[0]

    def _ensure_session(self) -> Any:
        """The logged-in session, opened now if there is none. Call with the lock held."""
        if self._session is not None:
            return self._session
        pkcs11 = _require_pkcs11()
        from pkcs11.exceptions import PinIncorrect, PKCS11Error

        module = self._module or default_module()
        if module is None:
            raise SealingError(
                "no PKCS#11 library: set [seal] module (none of "
                f"{', '.join(DEFAULT_MODULES)} exists; apt-get install softhsm2 for SoftHSM2)"
            )
        if not Path(module).is_file():
            raise SealingError(f"the PKCS#11 library {module} does not exist")
        try:
            lib = pkcs11.lib(module)
        except PKCS11Error as e:
            raise SealingError(
                f"cannot load the PKCS#11 library {module}: {describe_error(e)}"
            ) from None
        token = self._find_token(lib, module)
        pin = self._read_pin()
        fingerprint = pin.fingerprint(self._fingerprint_key)
        if fingerprint == self._rejected_pin:
            raise SealingError(
                f"wrong PIN for token {self._token_label!r} (CKR_PIN_INCORRECT earlier; not tried"
                " again, so as not to lock the token): correct the PIN in"
                f" {self._pin_source()}"
            )
        try:
            session = _open_session(token, pin)
        except PKCS11Error as e:
            failure: SealingError | None = self._login_failure(e)
            if isinstance(e, PinIncorrect):
                self._rejected_pin = fingerprint
        else:
            failure = None
        if failure is not None:
            # raised outside the except block: no context chained to frames that saw the PIN
            raise failure
        self._session = session
        self._generation += 1
        log.info("opened a PKCS#11 session on token %r (%s)", self._token_label, module)
        return session

    def _login_failure(self, error: BaseException) -> SealingError:
        """The error to raise for a failed ``C_OpenSession`` / ``C_Login``; never with the PIN."""
        from pkcs11.exceptions import (
            PinExpired,
            PinIncorrect,
            PinInvalid,
            PinLenRange,
            PinLocked,
            UserPinNotInitialized,
        )

        label = self._token_label
        if isinstance(error, PinIncorrect):
            return SealingError(
                f"wrong PIN for token {label!r} (CKR_PIN_INCORRECT); the PIN comes from"
                f" {self._pin_source()}"
            )
        if isinstance(error, PinLocked):
            return SealingError(
                f"the user PIN of token {label!r} is locked (CKR_PIN_LOCKED): too many wrong"
                " PINs; the token's security officer must unlock it"
            )
        if isinstance(error, PinExpired | PinInvalid | PinLenRange | UserPinNotInitialized):
            return SealingError(
                f"cannot log in to token {label!r}: {type(error).__name__} (the PIN comes from"
                f" {self._pin_source()})"
            )
        return SealingError(f"cannot open a session on token {label!r}: {describe_error(error)}")

    def _drop_session(self, generation: int) -> None:
        """Forget a lost session (if it is still the current one) and its key handles."""
        from pkcs11.exceptions import PKCS11Error

        with self._lock:
            if generation != self._generation or self._session is None:
                return  # another thread already replaced it
            session, self._session = self._session, None
            try:
                session.close()
            except PKCS11Error as e:
                log.debug("closing the lost session: %s", describe_error(e))
        # the key handles belonged to it; outside the token lock (loading takes it after the
        # cache's lock)
        self.forget()

    def close(self) -> None:
        """Log out and close the session, if open; a later seal opens a new one. Idempotent.

        Waits for a signature in progress on another thread.
        """
        from pkcs11.exceptions import PKCS11Error

        with self._lock:
            session, self._session = self._session, None
            if session is not None:
                try:
                    session.close()
                except PKCS11Error as e:
                    log.warning("closing the PKCS#11 session: %s", describe_error(e))
        self.forget()  # outside the token lock, as in _drop_session

    # -- keys -----------------------------------------------------------------------------

    @staticmethod
    def _objects(session: Any, cls: Any, label: str | None = None) -> list[Any]:
        """The token objects of a class (CKA_CLASS), optionally with a label (CKA_LABEL)."""
        from pkcs11 import Attribute

        query = {Attribute.CLASS: cls}
        if label is not None:
            query[Attribute.LABEL] = label
        return list(session.get_objects(query))

    def _load(self, authority: AuthorityToken, session: Any) -> TokenSigner:
        """Find the key, read the certificates, prove they match. Call with the lock held."""
        from pkcs11 import Attribute, ObjectClass
        from pkcs11.exceptions import PKCS11Error

        # pyHanko is heavy: its Signer subclass is loaded with the first key, not at start-up
        from bdcert_plugins.pkcs11_signer import TokenSigner

        label = self._token_label
        try:
            keys = self._objects(session, ObjectClass.PRIVATE_KEY, authority.key_label)
            if len(keys) != 1:
                present = [
                    k[Attribute.LABEL] for k in self._objects(session, ObjectClass.PRIVATE_KEY)
                ]
                if not keys:
                    raise SealingError(
                        f"token {label!r} has no private key labelled {authority.key_label!r}"
                        f" for authority {authority.code} (private keys present: {_labels(present)})"
                    )
                raise SealingError(
                    f"token {label!r} has {len(keys)} private keys labelled"
                    f" {authority.key_label!r}; key labels must be unique"
                )
            key = keys[0]
            if authority.cert is not None:
                cert = _read_certs(authority.cert, "seal certificate")[0]
            else:
                objects = self._objects(session, ObjectClass.CERTIFICATE, authority.cert_label)
                if len(objects) != 1:
                    present = [
                        c[Attribute.LABEL] for c in self._objects(session, ObjectClass.CERTIFICATE)
                    ]
                    raise SealingError(
                        f"token {label!r} has {len(objects) or 'no'} certificate"
                        f"{'s' if len(objects) > 1 else ''} labelled {authority.cert_label!r}"
                        f" for authority {authority.code} (certificates present: {_labels(present)})"
                    )
                cert = x509.load_der_x509_certificate(objects[0][Attribute.VALUE])
        except PKCS11Error as e:
            if is_session_lost(e):
                raise SessionLost(f"the token session was lost: {describe_error(e)}") from e
            raise SealingError(
                f"cannot read the seal key of authority {authority.code} from token {label!r}:"
                f" {describe_error(e)}"
            ) from None
        chain = [c for p in authority.chain for c in _read_certs(p, "certificate chain file")]
        signer = TokenSigner(key, cert, chain, self._lock, self._generation)
        self._check_key(signer, cert, authority)
        return signer

    def _check_key(self, signer: TokenSigner, cert: x509.Certificate, at: AuthorityToken) -> None:
        """Sign a probe on the token and verify it with the certificate's public key."""
        signature = signer.sign_locked(_PROBE, "sha256")
        public = cert.public_key()
        try:
            if isinstance(public, ec.EllipticCurvePublicKey):
                public.verify(signature, _PROBE, ec.ECDSA(hashes.SHA256()))
            elif isinstance(public, rsa.RSAPublicKey):
                public.verify(signature, _PROBE, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            where = at.cert if at.cert is not None else f"token label {at.cert_label!r}"
            raise SealingError(
                f"the token key {at.key_label!r} does not belong to the seal certificate of"
                f" authority {at.code} ({where})"
            ) from None

    def load_signer(self, authority_code: str) -> TokenSigner:
        """Find the authority's key on the token (opening the session if needed) and prove it
        belongs to the seal certificate; the base caches the signer.

        :raises SealingError: for an authority without a configured key, or a token, PIN, key
            or certificate problem; :class:`SessionLost` if the session is gone.
        """
        authority = self._authorities.get(authority_code)
        if authority is None:
            known = ", ".join(sorted(self._authorities)) or "none configured"
            raise SealingError(
                f"the pkcs11 seal provider has no seal key for authority {authority_code!r}"
                f" (configured: {known})"
            )
        with self._lock:
            signer = self._load(authority, self._ensure_session())
        log.debug("authority %s: key %r on the token", authority_code, authority.key_label)
        return signer

    def loaded_signer(self, authority_code: str) -> LoadedSigner:
        """The authority's signer (cached), reopening a lost session once.

        :raises SealingError: as :meth:`load_signer` does.
        """
        try:
            return super().loaded_signer(authority_code)
        except SessionLost as e:
            log.warning("token %r: %s; reopening the session", self._token_label, e)
            self._drop_session(self._generation)
            return super().loaded_signer(authority_code)

    # -- the protocol ---------------------------------------------------------------------

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        """Seal with the authority's token key (see
        :func:`bdcert.sealing.pades.seal_pdf_with_signer`).

        Opens and logs in the session on first use. The certificate must be valid now
        (wall-clock time), whatever ``request.signing_time`` claims. A lost session is reopened
        and the seal tried once more.

        :raises SealingError: for an authority without a configured key, a token, PIN, key or
            certificate problem (see the module docstring), or an expired or not yet valid
            seal certificate. The message never contains the PIN.
        """
        code = request.authority.code
        for attempt in (1, 2):
            signer: TokenSigner = self.loaded_signer(code).signer
            try:
                return super().seal_pdf(pdf, request)
            except SessionLost as e:
                if attempt == 2:
                    raise SealingError(f"token {self._token_label!r}: {e}") from e
                log.warning("token %r: %s; reopening the session", self._token_label, e)
                self._drop_session(signer.generation)
        raise AssertionError("unreachable")  # pragma: no cover

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        """The seal certificate (PEM) of an authority, after finding its key on the token.

        :raises SealingError: as :meth:`seal_pdf` does, for an unusable token, key or certificate.
        """
        return self.loaded_signer(authority_code).pem


@hookimpl
def bdcert_register_seal_providers(register: Callable[[str, SealProviderFactory], None]) -> None:
    """Register the ``pkcs11`` seal provider."""
    register("pkcs11", Pkcs11SealProvider.from_settings)
