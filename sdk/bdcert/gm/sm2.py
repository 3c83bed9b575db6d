"""SM2 signatures and the SM3 hash (GB/T 32918.2-2016, GB/T 32905-2016, GM/T 0009-2012).

:class:`SM2PrivateKey` signs and :class:`SM2PublicKey` verifies SM2 signatures over the
recommended curve (GB/T 32918.5), with ``e = SM3(Z ‖ M)`` and
``Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ Gx ‖ Gy ‖ Px ‖ Py)``. The distinguishing ID defaults to
:data:`DEFAULT_ID` (``1234567812345678``, GM/T 0009 §10). Signatures are emitted as DER
``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009 §7.3) and verification accepts only that
strict DER form (GM/T 0010): a raw 64-byte ``r ‖ s``, BER lengths, non-minimal or negative
integers or trailing bytes are refused, so one seal has one byte form. Raw signatures from
devices are converted with :func:`signature_to_der` before they are stored.

The arithmetic runs in a native backend (:class:`SM2Backend`); the one shipped,
:class:`TongsuoBackend`, uses ``tongsuopy`` (Tongsuo, an OpenSSL fork), installed by the ``gm``
extra (``pip install bdcert[gm]``). This module imports without it; the first key operation
raises :class:`~bdcert.errors.MissingDependency` if it is absent. :func:`sm3` needs only
``cryptography``.

The curve's parameters, point decoding and the pure-Python signing and verification equations
(the reference path for tests), and the DER ``r ‖ s`` helpers are in :mod:`bdcert.gm.sm2_curve`
(its public names used here are re-exported).

Example::

    key = SM2PrivateKey.generate()
    signature = key.sign(b"message")                  # DER, default ID
    assert key.public_key.verify(signature, b"message")
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes

from bdcert.errors import MissingDependency
from bdcert.gm.sm2_curve import (
    GX,
    GY,
    A,
    B,
    N,
    decode_der_rs,
    decode_point,
    encode_rs,
    signature_to_der,
    signature_to_raw,
)
from bdcert.gm.sm2_curve import P as P  # re-exported: the field prime

__all__ = [
    "DEFAULT_ID",
    "OID_SM2_CURVE",
    "OID_SM2_WITH_SM3",
    "OID_SM3",
    "OID_SM3_ALT",
    "SM2Backend",
    "SM2PrivateKey",
    "SM2PublicKey",
    "TongsuoBackend",
    "get_backend",
    "set_backend",
    "signature_to_der",
    "signature_to_raw",
    "sm3",
]

#: The default SM2 distinguishing ID (GM/T 0009-2012 §10).
DEFAULT_ID: bytes = b"1234567812345678"

#: SM3 hash (GM/T 0006).
OID_SM3 = "1.2.156.10197.1.401"
#: An alternative SM3 OID seen in the wild; accepted when parsing, never emitted.
OID_SM3_ALT = "1.2.156.10197.1.401.1"
#: sm2sign-with-sm3 signature algorithm.
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
#: The SM2 recommended curve (named curve parameter of id-ecPublicKey).
OID_SM2_CURVE = "1.2.156.10197.1.301"

#: id-ecPublicKey (RFC 5480).
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"

# The recommended curve's parameters (P, A, B, N, GX, GY) and the pure-Python arithmetic are in
# bdcert.gm.sm2_curve, re-exported here.
_CURVE_PREFIX = b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))
_MAX_UID = 8191  # ENTL is the ID's length in bits, in two bytes


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data`` (GB/T 32905-2016)."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


# -- backends ------------------------------------------------------------------------------


@runtime_checkable
class SM2Backend(Protocol):
    """The native operations an SM2 implementation provides; keys are opaque handles.

    ``sign``/``verify`` hash with the default ID (:data:`DEFAULT_ID`) themselves;
    ``sign_digest``/``verify_digest`` take the 32-byte ``e = SM3(Z ‖ M)`` already computed, for
    other IDs. Signatures are DER. ``verify`` and ``verify_digest`` return False, never raise, for
    a signature that does not verify.
    """

    name: str

    def generate(self) -> Any: ...
    def private_from_int(self, d: int) -> Any: ...
    def private_from_pem(self, pem: bytes, password: bytes | None) -> Any: ...
    def private_to_pem(self, key: Any, password: bytes | None) -> bytes: ...
    def private_value(self, key: Any) -> int: ...
    def public_point(self, key: Any) -> bytes: ...
    def public_from_point(self, point: bytes) -> Any: ...
    def sign(self, key: Any, message: bytes) -> bytes: ...
    def sign_digest(self, key: Any, digest: bytes) -> bytes: ...
    def verify(self, public: Any, signature: bytes, message: bytes) -> bool: ...
    def verify_digest(self, public: Any, signature: bytes, digest: bytes) -> bool: ...


class TongsuoBackend:
    """SM2 through ``tongsuopy`` (Tongsuo). Default-ID signing is one native call (~1 ms or less).

    Prehashed signing uses the library's ``EVP_PKEY_sign``, which for an SM2 key signs ``e`` as
    given (Tongsuo/OpenSSL 1.1.1 ``sm2_sign``).
    """

    name = "tongsuopy"

    def __init__(self) -> None:
        try:
            from tongsuopy.backends.tongsuo import backend as native
            from tongsuopy.crypto import hashes as t_hashes
            from tongsuopy.crypto import serialization
            from tongsuopy.crypto.asymciphers import ec
            from tongsuopy.crypto.exceptions import (
                InternalError,
                InvalidSignature,
                UnsupportedAlgorithm,
            )
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise MissingDependency(
                "SM2 needs tongsuopy: install the gm extra (pip install 'bdcert[gm]')"
            ) from exc
        self._native = native
        self._ec = ec
        self._ser = serialization
        self._algorithm = ec.ECDSA(t_hashes.SM3())
        self._unsupported = UnsupportedAlgorithm
        self._failures: tuple[type[BaseException], ...] = (
            InvalidSignature,
            InternalError,
            ValueError,
        )

    def _check_curve(self, key: Any) -> Any:
        if not isinstance(key.curve, self._ec.SM2):
            raise ValueError(f"not an SM2 key (curve {key.curve.name})")
        return key

    def generate(self) -> Any:
        return self._ec.generate_private_key(self._ec.SM2())

    def private_from_int(self, d: int) -> Any:
        return self._ec.derive_private_key(d, self._ec.SM2())

    def private_from_pem(self, pem: bytes, password: bytes | None) -> Any:
        try:
            key = self._ser.load_pem_private_key(pem, password)
        except self._unsupported as exc:  # another curve or algorithm
            raise ValueError(f"not an SM2 private key: {exc}") from exc
        if not isinstance(key, self._ec.EllipticCurvePrivateKey):
            raise ValueError("not an SM2 private key")
        return self._check_curve(key)

    def private_to_pem(self, key: Any, password: bytes | None) -> bytes:
        encryption = (
            self._ser.BestAvailableEncryption(password) if password else self._ser.NoEncryption()
        )
        pem: bytes = key.private_bytes(
            self._ser.Encoding.PEM, self._ser.PrivateFormat.PKCS8, encryption
        )
        return pem

    def private_value(self, key: Any) -> int:
        value: int = key.private_numbers().private_value
        return value

    def public_point(self, key: Any) -> bytes:
        point: bytes = key.public_key().public_bytes(
            self._ser.Encoding.X962, self._ser.PublicFormat.UncompressedPoint
        )
        return point

    def public_from_point(self, point: bytes) -> Any:
        return self._ec.EllipticCurvePublicKey.from_encoded_point(self._ec.SM2(), point)

    def sign(self, key: Any, message: bytes) -> bytes:
        return bytes(key.sign(message, self._algorithm))

    def verify(self, public: Any, signature: bytes, message: bytes) -> bool:
        try:
            public.verify(signature, message, self._algorithm)
        except self._failures:
            return False
        return True

    def _pkey_ctx(self, key: Any) -> Any:
        ffi, lib = self._native._ffi, self._native._lib
        ctx = lib.EVP_PKEY_CTX_new(key._evp_pkey, ffi.NULL)
        self._native.openssl_assert(ctx != ffi.NULL)
        return ffi.gc(ctx, lib.EVP_PKEY_CTX_free)

    def sign_digest(self, key: Any, digest: bytes) -> bytes:
        ffi, lib = self._native._ffi, self._native._lib
        ctx = self._pkey_ctx(key)
        self._native.openssl_assert(lib.EVP_PKEY_sign_init(ctx) == 1)
        size = ffi.new("size_t *")
        self._native.openssl_assert(
            lib.EVP_PKEY_sign(ctx, ffi.NULL, size, digest, len(digest)) == 1
        )
        buf = ffi.new("unsigned char[]", size[0])
        self._native.openssl_assert(lib.EVP_PKEY_sign(ctx, buf, size, digest, len(digest)) == 1)
        return bytes(ffi.buffer(buf)[: size[0]])

    def verify_digest(self, public: Any, signature: bytes, digest: bytes) -> bool:
        lib = self._native._lib
        ctx = self._pkey_ctx(public)
        self._native.openssl_assert(lib.EVP_PKEY_verify_init(ctx) == 1)
        res = lib.EVP_PKEY_verify(ctx, signature, len(signature), digest, len(digest))
        if res != 1:
            self._native._consume_errors()
            return False
        return True


_backend: SM2Backend | None = None
_backend_lock = threading.Lock()


def get_backend() -> SM2Backend:
    """The SM2 backend in use (a :class:`TongsuoBackend` unless :func:`set_backend` chose another).

    :raises MissingDependency: if no backend was set and ``tongsuopy`` is not installed.
    """
    global _backend
    if _backend is None:
        with _backend_lock:
            if _backend is None:
                _backend = TongsuoBackend()
    return _backend


def set_backend(backend: SM2Backend | None) -> None:
    """Use ``backend`` for keys created from now on; None returns to the default."""
    global _backend
    with _backend_lock:
        _backend = backend


def _check_uid(uid: bytes) -> None:
    if len(uid) > _MAX_UID:
        raise ValueError(f"an SM2 distinguishing ID is at most {_MAX_UID} bytes")


# -- keys ----------------------------------------------------------------------------------


def _spki_parts(der: bytes) -> tuple[str, str | None, bytes]:
    """(algorithm OID, named-curve OID or None, public key bytes) of a DER SubjectPublicKeyInfo.

    Parsed generically: asn1crypto's own PublicKeyInfo rejects algorithms it does not know.
    """
    from asn1crypto import core

    class AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]
        _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
            ("algorithm", core.ObjectIdentifier),
            ("parameters", core.Any, {"optional": True}),
        ]

    class SubjectPublicKeyInfo(core.Sequence):  # type: ignore[misc]
        _fields = [  # noqa: RUF012
            ("algorithm", AlgorithmIdentifier),
            ("public_key", core.OctetBitString),
        ]

    info = SubjectPublicKeyInfo.load(der, strict=True)
    algorithm: str = info["algorithm"]["algorithm"].dotted
    params = info["algorithm"]["parameters"]
    curve: str | None = None
    if params.native is not None:
        parsed = params.parse()
        if isinstance(parsed, core.ObjectIdentifier):
            curve = parsed.dotted
    point: bytes = info["public_key"].native
    return algorithm, curve, bytes(point)


class SM2PublicKey:
    """An SM2 public key: a point on the recommended curve. Equal keys compare equal."""

    __slots__ = ("_backend", "_handle", "_point", "_xy")

    def __init__(self, backend: SM2Backend, handle: Any, point: bytes) -> None:
        """Internal; use :meth:`from_point`, :meth:`from_der`, :meth:`from_pem`."""
        self._backend = backend
        self._handle = handle
        self._point = point
        self._xy = decode_point(point)

    @classmethod
    def from_point(cls, point: bytes) -> SM2PublicKey:
        """The key with the given point: ``04 ‖ x ‖ y`` (65 bytes); a 33-byte compressed point is
        also accepted.

        :raises ValueError: if the point is malformed or not on the curve.
        :raises MissingDependency: if ``tongsuopy`` is not installed.
        """
        x, y = decode_point(point)
        uncompressed = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
        backend = get_backend()
        return cls(backend, backend.public_from_point(uncompressed), uncompressed)

    @classmethod
    def from_der(cls, spki_der: bytes) -> SM2PublicKey:
        """Load a DER SubjectPublicKeyInfo: id-ecPublicKey with the SM2 curve OID (GM/T 0015), or
        the SM2 curve OID as the algorithm itself (seen in the wild).

        :raises ValueError: if it is not an SM2 public key.
        """
        try:
            algorithm, curve, point = _spki_parts(spki_der)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a DER SubjectPublicKeyInfo: {exc}") from exc
        if not (
            (algorithm == OID_EC_PUBLIC_KEY and curve == OID_SM2_CURVE)
            or algorithm == OID_SM2_CURVE
        ):
            raise ValueError(f"not an SM2 public key (algorithm {algorithm}, curve {curve})")
        return cls.from_point(point)

    @classmethod
    def from_pem(cls, pem: bytes) -> SM2PublicKey:
        """Load a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo).

        :raises ValueError: if it is not a PEM SM2 public key.
        """
        from asn1crypto import pem as asn1_pem

        if not asn1_pem.detect(pem):
            raise ValueError("not PEM")
        kind, _, der = asn1_pem.unarmor(pem)
        if kind != "PUBLIC KEY":
            raise ValueError(f"expected a PUBLIC KEY, got {kind}")
        return cls.from_der(der)

    @property
    def point(self) -> bytes:
        """The uncompressed point ``04 ‖ x ‖ y`` (65 bytes)."""
        return self._point

    def to_der(self) -> bytes:
        """DER SubjectPublicKeyInfo: id-ecPublicKey, named curve SM2, the uncompressed point."""
        from asn1crypto import keys

        info = keys.PublicKeyInfo(
            {
                "algorithm": keys.PublicKeyAlgorithm(
                    {
                        "algorithm": OID_EC_PUBLIC_KEY,
                        "parameters": keys.ECDomainParameters("named", OID_SM2_CURVE),
                    }
                ),
                "public_key": self._point,
            }
        )
        der: bytes = info.dump()
        return der

    def to_pem(self) -> bytes:
        """PEM ``PUBLIC KEY`` of :meth:`to_der`."""
        from asn1crypto import pem as asn1_pem

        out: bytes = asn1_pem.armor("PUBLIC KEY", self.to_der())
        return out

    def z(self, uid: bytes = DEFAULT_ID) -> bytes:
        """``Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ Gx ‖ Gy ‖ Px ‖ Py)`` (GB/T 32918.2 §5.5), 32 bytes.

        :raises ValueError: if ``uid`` is longer than 8191 bytes.
        """
        _check_uid(uid)
        entl = (len(uid) * 8).to_bytes(2, "big")
        return sm3(entl + uid + _CURVE_PREFIX + self._point[1:])

    def verify(self, signature: bytes, message: bytes, *, uid: bytes = DEFAULT_ID) -> bool:
        """Whether ``signature`` is this key's SM2 signature of ``message`` under distinguishing
        ID ``uid`` (GB/T 32918.2 §7).

        ``signature`` must be strict DER ``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009 §7.3,
        GM/T 0010): short-form lengths, minimal positive integers, nothing after the sequence,
        1 ≤ r, s < n. A raw 64-byte ``r ‖ s`` or any other encoding is refused (False), so a
        verified signature has exactly one byte form. Never raises for a bad or malformed
        signature.
        """
        if len(uid) > _MAX_UID or not isinstance(signature, (bytes, bytearray, memoryview)):
            return False
        rs = decode_der_rs(bytes(signature))
        if rs is None:
            return False
        r, s = rs
        if not (1 <= r < N and 1 <= s < N):
            return False
        der = encode_rs(r, s)
        if der != bytes(signature):  # decode_der_rs is strict; this makes it certain
            return False
        if uid == DEFAULT_ID:
            return self._backend.verify(self._handle, der, message)
        return self._backend.verify_digest(self._handle, der, sm3(self.z(uid) + message))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other._point == self._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"SM2PublicKey({self._point[1:9].hex()}…)"


class SM2PrivateKey:
    """An SM2 private key. Sign with :meth:`sign`; never printed by ``repr``."""

    __slots__ = ("_backend", "_handle", "_public")

    def __init__(self, backend: SM2Backend, handle: Any) -> None:
        """Internal; use :meth:`generate`, :meth:`from_int`, :meth:`from_pem`."""
        self._backend = backend
        self._handle = handle
        point = backend.public_point(handle)
        self._public = SM2PublicKey(backend, backend.public_from_point(point), point)

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        """A new random key.

        :raises MissingDependency: if ``tongsuopy`` is not installed.
        """
        backend = get_backend()
        return cls(backend, backend.generate())

    @classmethod
    def from_int(cls, d: int) -> SM2PrivateKey:
        """The key with private value ``d`` (1 ≤ d ≤ n − 2, GB/T 32918.1 §6.1).

        :raises ValueError: if ``d`` is out of range.
        """
        if not 1 <= d <= N - 2:
            raise ValueError("an SM2 private key is an integer in [1, n - 2]")
        backend = get_backend()
        return cls(backend, backend.private_from_int(d))

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None = None) -> SM2PrivateKey:
        """Load a PEM private key (PKCS#8, encrypted with ``password`` or not, or SEC1).

        :raises ValueError: if it is not an SM2 private key or the password is wrong.
        :raises TypeError: if a password is given for an unencrypted key or vice versa.
        """
        backend = get_backend()
        return cls(backend, backend.private_from_pem(pem, password))

    @property
    def public_key(self) -> SM2PublicKey:
        """The matching public key."""
        return self._public

    @property
    def private_value(self) -> int:
        """The private scalar ``d``."""
        return self._backend.private_value(self._handle)

    def to_pem(self, password: bytes | None = None) -> bytes:
        """PKCS#8 PEM, encrypted with ``password`` (best available cipher) if given."""
        return self._backend.private_to_pem(self._handle, password)

    def sign(self, message: bytes, *, uid: bytes = DEFAULT_ID) -> bytes:
        """The SM2 signature of ``message`` under distinguishing ID ``uid``, as DER ``SEQUENCE{r,s}``.

        With the default ID this is one native call; other IDs hash ``SM3(Z ‖ M)`` here and have
        the backend sign the digest.

        :raises ValueError: if ``uid`` is longer than 8191 bytes.
        """
        if uid == DEFAULT_ID:
            return self._backend.sign(self._handle, message)
        digest = sm3(self._public.z(uid) + message)
        return self._backend.sign_digest(self._handle, digest)

    def __repr__(self) -> str:
        return f"SM2PrivateKey(public={self._public!r})"
