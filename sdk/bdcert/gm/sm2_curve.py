"""The SM2 recommended curve in pure Python, and the DER ``SEQUENCE { r, s }`` signature encoding.

The curve parameters (GB/T 32918.5-2017 §A), point decoding and checking, and the SM2 signing and
verification equations over a digest (GB/T 32918.2 §6.1, §7.1) in Jacobian coordinates: point
checks for :mod:`bdcert.gm.sm2`, and the reference path its tests compare the native backend
with. Not constant-time; production signing runs in the backend (:class:`bdcert.gm.sm2.SM2Backend`).

Signatures are DER ``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009 §7.3); devices may give the
raw 64-byte ``r ‖ s``, which :func:`signature_to_der` converts (and :func:`signature_to_raw` back).
Verification (:meth:`bdcert.gm.sm2.SM2PublicKey.verify`) takes only strict DER
(:func:`decode_der_rs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "GX",
    "GY",
    "A",
    "B",
    "Jacobian",
    "N",
    "P",
    "add_affine",
    "candidate_signatures",
    "decode_der_rs",
    "decode_point",
    "der_int",
    "encode_rs",
    "jadd",
    "jdouble",
    "mul",
    "on_curve",
    "python_sign_digest",
    "python_verify_digest",
    "signature_to_der",
    "signature_to_raw",
]

# The recommended curve y² = x³ + ax + b over F_p (GB/T 32918.5-2017 §A).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0


# -- signature encodings -------------------------------------------------------------------


def der_int(value: int) -> bytes:
    # one byte more than the bit length needs: a leading 0x00 exactly when the top bit is set
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return b"\x02" + bytes([len(body)]) + body


def encode_rs(r: int, s: int) -> bytes:
    body = der_int(r) + der_int(s)
    return b"\x30" + bytes([len(body)]) + body


def decode_der_rs(der: bytes) -> tuple[int, int] | None:
    """Strict DER ``SEQUENCE { INTEGER, INTEGER }`` of positive integers, or None."""
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2 or der[1] > 0x7F:
        return None
    pos = 2
    values: list[int] = []
    for _ in range(2):
        if pos + 2 > len(der) or der[pos] != 0x02:
            return None
        size = der[pos + 1]
        body = der[pos + 2 : pos + 2 + size]
        if size == 0 or size > 33 or len(body) != size:
            return None
        if body[0] & 0x80:  # negative
            return None
        if size > 1 and body[0] == 0 and not body[1] & 0x80:  # non-minimal
            return None
        values.append(int.from_bytes(body, "big"))
        pos += 2 + size
    if pos != len(der):
        return None
    return values[0], values[1]


def signature_to_der(raw: bytes) -> bytes:
    """Convert a raw 64-byte ``r ‖ s`` signature to DER ``SEQUENCE { r, s }``.

    :raises ValueError: if ``raw`` is not 64 bytes.
    """
    if len(raw) != 64:
        raise ValueError(f"a raw SM2 signature is 64 bytes (r ‖ s), not {len(raw)}")
    return encode_rs(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def signature_to_raw(der: bytes) -> bytes:
    """Convert a DER ``SEQUENCE { r, s }`` signature to 64 bytes ``r ‖ s`` (each left-padded to 32).

    :raises ValueError: if ``der`` is not strict DER or r, s do not fit in 32 bytes.
    """
    rs = decode_der_rs(der)
    if rs is None:
        raise ValueError("not a DER SM2 signature (SEQUENCE of two INTEGERs)")
    r, s = rs
    if r.bit_length() > 256 or s.bit_length() > 256:
        raise ValueError("r or s does not fit in 32 bytes")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def candidate_signatures(signature: bytes) -> Iterator[tuple[int, int]]:
    """The (r, s) pairs ``signature`` may stand for: its DER reading, and its raw reading if 64
    bytes. For diagnostics only (what a lenient reader would accept): verification takes only
    DER (:func:`decode_der_rs`)."""
    rs = decode_der_rs(signature)
    if rs is not None:
        yield rs
    if len(signature) == 64:
        yield int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


# -- pure-Python curve arithmetic (point checks; the reference path for tests) ---------------

Jacobian = tuple[int, int, int]


def jdouble(p: Jacobian) -> Jacobian:
    x, y, z = p
    if y == 0 or z == 0:
        return (1, 1, 0)
    ysq = y * y % P
    s = 4 * x * ysq % P
    zsq = z * z % P
    m = (3 * x * x + A * zsq * zsq) % P
    nx = (m * m - 2 * s) % P
    ny = (m * (s - nx) - 8 * ysq * ysq) % P
    nz = 2 * y * z % P
    return (nx, ny, nz)


def jadd(p: Jacobian, q: Jacobian) -> Jacobian:
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    z1sq = p[2] * p[2] % P
    z2sq = q[2] * q[2] % P
    u1 = p[0] * z2sq % P
    u2 = q[0] * z1sq % P
    s1 = p[1] * z2sq * q[2] % P
    s2 = q[1] * z1sq * p[2] % P
    if u1 == u2:
        return jdouble(p) if s1 == s2 else (1, 1, 0)
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    h2 = h * h % P
    h3 = h * h2 % P
    u1h2 = u1 * h2 % P
    nx = (r * r - h3 - 2 * u1h2) % P
    ny = (r * (u1h2 - nx) - s1 * h3) % P
    nz = h * p[2] * q[2] % P
    return (nx, ny, nz)


def mul(k: int, point: tuple[int, int]) -> tuple[int, int] | None:
    """k·point in affine coordinates; None for the point at infinity. Not constant-time."""
    acc: Jacobian = (1, 1, 0)
    add: Jacobian = (point[0], point[1], 1)
    while k:
        if k & 1:
            acc = jadd(acc, add)
        add = jdouble(add)
        k >>= 1
    if acc[2] == 0:
        return None
    zinv = pow(acc[2], -1, P)
    zinv2 = zinv * zinv % P
    return (acc[0] * zinv2 % P, acc[1] * zinv2 * zinv % P)


def add_affine(p: tuple[int, int] | None, q: tuple[int, int] | None) -> tuple[int, int] | None:
    if p is None:
        return q
    if q is None:
        return p
    j = jadd((p[0], p[1], 1), (q[0], q[1], 1))
    if j[2] == 0:
        return None
    zinv = pow(j[2], -1, P)
    zinv2 = zinv * zinv % P
    return (j[0] * zinv2 % P, j[1] * zinv2 * zinv % P)


def on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x - A * x - B) % P == 0


def decode_point(point: bytes) -> tuple[int, int]:
    """Decode an uncompressed (65-byte) or compressed (33-byte) point and check it is on the curve."""
    if len(point) == 65 and point[0] == 0x04:
        x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    elif len(point) == 33 and point[0] in (0x02, 0x03):
        x = int.from_bytes(point[1:], "big")
        if x >= P:
            raise ValueError("not a point on the SM2 curve")
        y = pow((x * x * x + A * x + B) % P, (P + 1) // 4, P)  # P ≡ 3 (mod 4)
        if y & 1 != point[0] & 1:
            y = P - y
    else:
        raise ValueError("an SM2 public key is a 65-byte uncompressed point 04 ‖ x ‖ y")
    if not on_curve(x, y):
        raise ValueError("not a point on the SM2 curve")
    return x, y


def python_sign_digest(d: int, e: int, k: int) -> tuple[int, int] | None:
    """The SM2 signing equations (GB/T 32918.2 §6.1) with a given nonce ``k``; None if k is unusable.

    A test hook for the standard's worked example; production signing runs in the backend.
    """
    kg = mul(k, (GX, GY))
    if kg is None:
        return None
    r = (e + kg[0]) % N
    if r == 0 or r + k == N:
        return None
    s = pow(1 + d, -1, N) * (k - r * d) % N
    if s == 0:
        return None
    return r, s


def python_verify_digest(point: tuple[int, int], e: int, r: int, s: int) -> bool:
    """The SM2 verification equations (GB/T 32918.2 §7.1), in pure Python."""
    if not (1 <= r < N and 1 <= s < N):
        return False
    t = (r + s) % N
    if t == 0:
        return False
    q = add_affine(mul(s, (GX, GY)), mul(t, point))
    return q is not None and (e + q[0]) % N == r
