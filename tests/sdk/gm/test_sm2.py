"""SM2/SM3 (bdcert.gm.sm2): the standard's vectors, and independent checks by OpenSSL and gmssl.

Needs the ``gm`` extra (tongsuopy), ``gmssl`` and the ``openssl`` command line (3.x); without
them these tests skip on a laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import require_module, require_openssl

require_module("tongsuopy", "tongsuopy (the gm extra)")

from bdcert.errors import MissingDependency  # noqa: E402
from bdcert.gm import sm2, sm2_curve  # noqa: E402
from bdcert.gm.sm2 import (  # noqa: E402
    DEFAULT_ID,
    SM2PrivateKey,
    SM2PublicKey,
    signature_to_der,
    signature_to_raw,
    sm3,
)
from bdcert.gm.sm2_curve import python_sign_digest, python_verify_digest  # noqa: E402

# GB/T 32918.5-2017 / GM/T 0003.5 worked example (FACTS.md).
VECTOR_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
VECTOR_X = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
VECTOR_Y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
VECTOR_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
VECTOR_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
VECTOR_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
VECTOR_MESSAGE = b"message digest"

SAMPLES = 1000
OTHER_ID = b"ALICE123@YAHOO.COM"


# -- the standard's vectors ------------------------------------------------------------------


def test_sm3_vectors() -> None:
    # GB/T 32905-2016 Appendix A
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert (
        sm3(b"abcd" * 16).hex()
        == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def test_vector_public_key() -> None:
    key = SM2PrivateKey.from_int(VECTOR_D)
    point = key.public_key.point
    assert point == b"\x04" + VECTOR_X.to_bytes(32, "big") + VECTOR_Y.to_bytes(32, "big")
    assert key.private_value == VECTOR_D
    assert SM2PublicKey.from_point(point) == key.public_key


def test_vector_signature_verifies() -> None:
    public = SM2PrivateKey.from_int(VECTOR_D).public_key
    raw = VECTOR_R.to_bytes(32, "big") + VECTOR_S.to_bytes(32, "big")
    der = signature_to_der(raw)
    assert public.verify(der, VECTOR_MESSAGE)
    assert public.verify(der, VECTOR_MESSAGE, uid=DEFAULT_ID)
    assert not public.verify(der, VECTOR_MESSAGE, uid=b"1234567812345679")
    assert not public.verify(der, b"message digesT")
    # the standard's (r, s) as raw r ‖ s is not a DER signature: refused (GM/T 0010)
    assert not public.verify(raw, VECTOR_MESSAGE)


def test_vector_signature_with_given_k() -> None:
    """With the standard's nonce k, the SM2 equations give exactly its (r, s)."""
    public = SM2PrivateKey.from_int(VECTOR_D).public_key
    e = int.from_bytes(sm3(public.z() + VECTOR_MESSAGE), "big")
    assert python_sign_digest(VECTOR_D, e, VECTOR_K) == (VECTOR_R, VECTOR_S)
    assert python_verify_digest((VECTOR_X, VECTOR_Y), e, VECTOR_R, VECTOR_S)
    # and the native digest path agrees on that e
    der = signature_to_der(VECTOR_R.to_bytes(32, "big") + VECTOR_S.to_bytes(32, "big"))
    backend = sm2.get_backend()
    assert backend.verify_digest(public._handle, der, e.to_bytes(32, "big"))


def test_z_uses_entl_and_id() -> None:
    public = SM2PrivateKey.from_int(VECTOR_D).public_key
    expected = sm3(
        b"\x00\x80"
        + DEFAULT_ID
        + b"".join(v.to_bytes(32, "big") for v in (sm2.A, sm2.B, sm2.GX, sm2.GY))
        + public.point[1:]
    )
    assert public.z() == expected
    assert public.z(b"") != expected
    with pytest.raises(ValueError):
        public.z(b"x" * 8192)


# -- encodings -------------------------------------------------------------------------------


def test_signature_encodings_round_trip() -> None:
    raw = bytes(range(1, 65))
    der = signature_to_der(raw)
    assert der[0] == 0x30
    assert signature_to_raw(der) == raw
    # leading zeros are dropped in DER and restored in raw
    short = b"\x00\x00" + bytes(range(1, 31)) + b"\x00\x80" + bytes(range(1, 31))
    der = signature_to_der(short)
    assert signature_to_raw(der) == short
    assert der[3] == 30  # r: 30 bytes
    assert der[34:37] == b"\x02\x20\x00"  # s: 0x80… gets a 0x00 pad byte, then 31 bytes
    high = b"\xff" * 64
    assert len(signature_to_der(high)) == 2 + 2 * 35
    for bad in (b"", raw[:63], raw + b"\x00"):
        with pytest.raises(ValueError):
            signature_to_der(bad)


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x30",
        b"\x30\x06\x02\x01\x01\x02\x01",  # truncated
        b"\x30\x06\x02\x01\x01\x02\x01\x01\x00",  # trailing byte
        b"\x30\x06\x02\x01\xff\x02\x01\x01",  # negative r
        b"\x30\x07\x02\x02\x00\x01\x02\x01\x01",  # non-minimal r
        b"\x31\x06\x02\x01\x01\x02\x01\x01",  # SET, not SEQUENCE
        b"\x30\x06\x04\x01\x01\x02\x01\x01",  # OCTET STRING
    ],
)
def test_malformed_der_is_rejected(bad: bytes) -> None:
    with pytest.raises(ValueError):
        signature_to_raw(bad)
    key = SM2PrivateKey.generate()
    assert key.public_key.verify(bad, b"m") is False


def test_keys_serialise() -> None:
    key = SM2PrivateKey.generate()
    public = key.public_key
    assert SM2PublicKey.from_der(public.to_der()) == public
    assert SM2PublicKey.from_pem(public.to_pem()) == public
    assert public.to_pem().startswith(b"-----BEGIN PUBLIC KEY-----")
    pem = key.to_pem()
    assert b"BEGIN PRIVATE KEY" in pem
    assert SM2PrivateKey.from_pem(pem).public_key == public
    encrypted = key.to_pem(b"secret")
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    assert SM2PrivateKey.from_pem(encrypted, b"secret").private_value == key.private_value
    with pytest.raises(ValueError):
        SM2PrivateKey.from_pem(encrypted, b"wrong")
    # a compressed point names the same key
    x, y = public.point[1:33], public.point[33:]
    compressed = bytes([2 + (y[-1] & 1)]) + x
    assert SM2PublicKey.from_point(compressed) == public
    assert "PRIVATE" not in repr(key) and str(key.private_value) not in repr(key)


def test_public_key_with_sm2_algorithm_oid() -> None:
    """Some SPKIs name the SM2 curve OID as the algorithm itself; accept them too."""
    from asn1crypto import core

    public = SM2PrivateKey.generate().public_key
    oid = core.ObjectIdentifier(sm2.OID_SM2_CURVE).dump()
    body = b"\x30" + bytes([len(oid)]) + oid + b"\x03\x42\x00" + public.point
    spki = b"\x30" + bytes([len(body)]) + body
    assert SM2PublicKey.from_der(spki) == public


def test_bad_keys_are_rejected() -> None:
    public = SM2PrivateKey.generate().public_key
    off_curve = public.point[:-1] + bytes([public.point[-1] ^ 1])
    with pytest.raises(ValueError):
        SM2PublicKey.from_point(off_curve)
    with pytest.raises(ValueError):
        SM2PublicKey.from_point(public.point[1:])
    for d in (0, sm2.N - 1, sm2.N):
        with pytest.raises(ValueError):
            SM2PrivateKey.from_int(d)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1())
    spki = p256.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="not an SM2"):
        SM2PublicKey.from_der(spki)
    pkcs8 = p256.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError):
        SM2PrivateKey.from_pem(pkcs8)
    with pytest.raises(ValueError):
        SM2PublicKey.from_der(b"\x30\x00")


# -- tampering ---------------------------------------------------------------------------------


def test_tampered_message_or_signature_fails_without_raising() -> None:
    key = SM2PrivateKey.generate()
    message = b"\xe4\xb8\x8d\xe5\x8a\xa8\xe4\xba\xa7" * 10
    der = key.sign(message)
    raw = signature_to_raw(der)
    public = key.public_key
    assert public.verify(der, message)
    assert public.verify(raw, message) is False  # the raw form of a good signature: not DER
    assert not public.verify(der, message + b"\x00")
    assert not public.verify(der, message[:-1])
    for i in range(len(raw)):
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        assert public.verify(bytes(flipped), message) is False
    for i in range(len(der)):
        flipped = bytearray(der)
        flipped[i] ^= 0x40
        assert public.verify(bytes(flipped), message) is False
    zero = b"\x00" * 64
    assert public.verify(zero, message) is False
    r, s = sm2_curve.decode_der_rs(der) or (0, 0)
    # r + n is r modulo n, but out of range: refused
    assert public.verify(sm2_curve.encode_rs(r + sm2.N, s), message) is False
    other = SM2PrivateKey.generate().public_key
    assert other.verify(der, message) is False


def non_der_forms(der: bytes) -> dict[str, bytes]:
    """Encodings of the same (r, s) that a lenient BER reader accepts and DER forbids, built by
    hand from the bytes (not by bdcert's encoder)."""
    assert der[0] == 0x30 and der[1] == len(der) - 2
    body = der[2:]
    r_len = body[1]
    r_tlv, s_tlv = body[: 2 + r_len], body[2 + r_len :]

    def padded(tlv: bytes) -> bytes:  # a superfluous leading zero byte
        return bytes([0x02, tlv[1] + 1, 0]) + tlv[2:]

    return {
        "raw r || s": signature_to_raw(der),
        "long-form sequence length": b"\x30\x81" + bytes([len(body)]) + body,
        "long-form integer length": b"\x30" + bytes([len(body) + 1]) + b"\x02\x81"
        + bytes([r_len]) + r_tlv[2:] + s_tlv,
        "non-minimal r": b"\x30" + bytes([len(body) + 1]) + padded(r_tlv) + s_tlv,
        "non-minimal s": b"\x30" + bytes([len(body) + 1]) + r_tlv + padded(s_tlv),
        "trailing byte": der + b"\x00",
        "indefinite length": b"\x30\x80" + body + b"\x00\x00",
        "set instead of sequence": b"\x31" + der[1:],
    }  # fmt: skip


def test_only_der_signatures_verify() -> None:
    """GM/T 0010: one signature, one byte form. Every BER variant and the raw r || s of a
    genuine signature are refused; each is still the same (r, s), as the lenient reader of the
    standard vector shows."""
    key = SM2PrivateKey.generate()
    message = b"register-free check"
    der = key.sign(message)
    assert key.public_key.verify(der, message)
    for name, form in non_der_forms(der).items():
        assert form != der
        assert key.public_key.verify(form, message) is False, name
        assert key.public_key.verify(form, message, uid=b"another id") is False, name


def test_non_default_uid() -> None:
    key = SM2PrivateKey.generate()
    der = key.sign(b"m", uid=OTHER_ID)
    assert key.public_key.verify(der, b"m", uid=OTHER_ID)
    assert not key.public_key.verify(der, b"m")
    assert not key.public_key.verify(der, b"m", uid=OTHER_ID + b"X")
    assert key.public_key.verify(key.sign(b"m", uid=b""), b"m", uid=b"")
    # the digest path with the default ID signs what the native path verifies
    digest = sm3(key.public_key.z() + b"m")
    native = sm2.get_backend()
    assert key.public_key.verify(native.sign_digest(key._handle, digest), b"m")


def test_missing_tongsuopy_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tongsuopy", None)
    for name in list(sys.modules):
        if name.startswith("tongsuopy."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(sm2, "_backend", None)
    with pytest.raises(MissingDependency, match=r"bdcert\[gm\]"):
        SM2PrivateKey.generate()
    with pytest.raises(ImportError):
        sm2.get_backend()


def test_module_imports_without_tongsuopy() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["tongsuopy"] = None
        import bdcert.gm.sm2 as sm2, bdcert.gm.x509
        assert sm2.sm3(b"abc").hex().startswith("66c7f0f4")
        try:
            sm2.SM2PrivateKey.generate()
        except sm2.MissingDependency as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "bdcert[gm]" in out


# -- 1,000 signatures, checked by OpenSSL and gmssl ---------------------------------------------


Sample = tuple[bytes, bytes, bytes]  # (public point, message, DER signature)


def _is_short(value: bytes) -> bool:
    return value[0] == 0


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    """1,000 (key, message, signature), each with a fresh key and a random-length message,
    including signatures whose r, and whose s, has a leading zero byte."""
    out: list[Sample] = []
    for i in range(SAMPLES):
        key = SM2PrivateKey.generate()
        message = os.urandom(i % 200)
        out.append((key.public_key.point, message, key.sign(message)))
    # make sure the padding paths are exercised: add a signature whose r, and one whose s, has
    # a leading zero byte unless the sample already holds them (each has p = 1/256 a signature)
    # (what counts: an r or s whose DER INTEGER has at most 31 bytes, so its raw form starts 00)
    need = {
        0: not any(der[3] <= 31 for _, _, der in out),
        32: not any(der[4 + der[3] + 1] <= 31 for _, _, der in out),
    }
    key = SM2PrivateKey.generate()
    for _ in range(50_000):
        if not any(need.values()):
            break
        message = os.urandom(16)
        der = key.sign(message)
        raw = signature_to_raw(der)
        # short in DER (an INTEGER of at most 31 bytes) implies a leading zero byte in raw form
        der_lengths = {0: der[3], 32: der[4 + der[3] + 1]}
        for offset, missing in need.items():
            if missing and der_lengths[offset] <= 31 and _is_short(raw[offset : offset + 32]):
                need[offset] = False
                out.append((key.public_key.point, message, der))
    return out


def test_samples_exercise_padding(samples: list[Sample]) -> None:
    raws = [signature_to_raw(der) for _, _, der in samples]
    assert any(_is_short(raw[:32]) for raw in raws), "no r with a leading zero byte"
    assert any(_is_short(raw[32:]) for raw in raws), "no s with a leading zero byte"
    assert {len(der) for _, _, der in samples} >= {70, 71, 72}
    # DER drops the leading zero: some r, and some s, is an INTEGER of at most 31 bytes
    assert any(der[3] <= 31 for _, _, der in samples)
    assert any(der[4 + der[3] + 1] <= 31 for _, _, der in samples)


def test_samples_verify_ourselves_in_der_only(samples: list[Sample]) -> None:
    for point, message, der in samples:
        public = SM2PublicKey.from_point(point)
        raw = signature_to_raw(der)
        assert len(raw) == 64
        assert signature_to_der(raw) == der
        assert public.verify(der, message)
        assert public.verify(raw, message) is False


def _openssl_verify(
    openssl: str, directory: Path, index: int, sample: Sample, uid: bytes = DEFAULT_ID
) -> tuple[int, str]:
    point, message, der = sample
    base = directory / str(index)
    (base.with_suffix(".pub")).write_bytes(SM2PublicKey.from_point(point).to_pem())
    (base.with_suffix(".msg")).write_bytes(message)
    (base.with_suffix(".sig")).write_bytes(der)
    result = subprocess.run(
        [
            openssl, "pkeyutl", "-verify", "-pubin",
            "-inkey", str(base.with_suffix(".pub")),
            "-rawin", "-in", str(base.with_suffix(".msg")),
            "-sigfile", str(base.with_suffix(".sig")),
            "-digest", "sm3",
            "-pkeyopt", f"distid:{uid.decode('ascii')}",
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def _openssl_all(openssl: str, directory: Path, samples: list[Sample], uid: bytes) -> list[int]:
    """Indexes of samples that OpenSSL does not verify (expected: none)."""
    with ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 1))) as pool:
        results = list(
            pool.map(
                lambda item: _openssl_verify(openssl, directory, item[0], item[1], uid),
                enumerate(samples),
            )
        )
    return [i for i, (rc, out) in enumerate(results) if rc != 0 or "Verified" not in out]


def test_openssl_verifies_1000_signatures(samples: list[Sample], tmp_path: Path) -> None:
    openssl = require_openssl()
    assert len(samples) >= SAMPLES
    assert _openssl_all(openssl, tmp_path, samples, DEFAULT_ID) == []


def test_openssl_rejects_tampered_and_wrong_id(tmp_path: Path) -> None:
    openssl = require_openssl()
    key = SM2PrivateKey.generate()
    good = (key.public_key.point, b"payload", key.sign(b"payload"))
    tampered = (good[0], b"payloaD", good[2])
    assert _openssl_verify(openssl, tmp_path, 0, good)[0] == 0
    assert _openssl_verify(openssl, tmp_path, 1, tampered)[0] != 0
    assert _openssl_verify(openssl, tmp_path, 2, good, uid=OTHER_ID)[0] != 0


def test_openssl_verifies_non_default_uid(tmp_path: Path) -> None:
    openssl = require_openssl()
    samples: list[Sample] = []
    for i in range(50):
        key = SM2PrivateKey.generate()
        message = os.urandom(i)
        samples.append((key.public_key.point, message, key.sign(message, uid=OTHER_ID)))
    assert _openssl_all(openssl, tmp_path, samples, OTHER_ID) == []
    assert len(_openssl_all(openssl, tmp_path, samples[:5], DEFAULT_ID)) == 5


def test_openssl_signature_verifies_here(tmp_path: Path) -> None:
    """The other direction: OpenSSL signs (default and other ID), we verify."""
    openssl = require_openssl()
    key = SM2PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.to_pem())
    (tmp_path / "msg").write_bytes(b"signed by openssl")
    for uid in (DEFAULT_ID, OTHER_ID):
        subprocess.run(
            [
                openssl, "pkeyutl", "-sign", "-inkey", str(tmp_path / "key.pem"),
                "-rawin", "-in", str(tmp_path / "msg"), "-out", str(tmp_path / "sig"),
                "-digest", "sm3", "-pkeyopt", f"distid:{uid.decode()}",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        signature = (tmp_path / "sig").read_bytes()
        assert key.public_key.verify(signature, b"signed by openssl", uid=uid)
        assert not key.public_key.verify(signature_to_raw(signature), b"signed by openssl", uid=uid)
        other = OTHER_ID if uid == DEFAULT_ID else DEFAULT_ID
        assert not key.public_key.verify(signature, b"signed by openssl", uid=other)


# gmssl is pure Python (~30 ms a verification): fan the 1,000 checks out over processes.
_GMSSL_WORKER = textwrap.dedent(
    """
    import json, sys
    from gmssl import sm2
    results = []
    for point_hex, message_hex, raw_hex in json.load(sys.stdin):
        crypt = sm2.CryptSM2(private_key="", public_key="00" * 64)
        # set the key after construction: CryptSM2 lstrip("04")s it, corrupting keys whose
        # hex starts with 0 or 4
        crypt.public_key = point_hex[2:]
        results.append(bool(crypt.verify_with_sm3(raw_hex, bytes.fromhex(message_hex))))
    json.dump(results, sys.stdout)
    """
)


def _gmssl_verify(samples: list[Sample]) -> list[bool]:
    require_module("gmssl", "gmssl (test extra)")
    workers = max(2, os.cpu_count() or 1)
    chunks = [samples[i::workers] for i in range(workers)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _GMSSL_WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in chunks
    ]
    outputs = []
    for proc, chunk in zip(procs, chunks, strict=True):
        payload = [(p.hex(), m.hex(), signature_to_raw(d).hex()) for p, m, d in chunk]
        out, _ = proc.communicate(json.dumps(payload), timeout=300)
        assert proc.returncode == 0
        outputs.append(json.loads(out))
    results = [False] * len(samples)
    for w, out in enumerate(outputs):
        for j, ok in enumerate(out):
            results[w + j * workers] = ok
    return results


def test_gmssl_verifies_1000_signatures(samples: list[Sample]) -> None:
    results = _gmssl_verify(samples)
    assert len(results) >= SAMPLES
    assert [i for i, ok in enumerate(results) if not ok] == []


def test_gmssl_rejects_tampered() -> None:
    key = SM2PrivateKey.generate()
    der = key.sign(b"abc")
    assert _gmssl_verify(
        [(key.public_key.point, b"abc", der), (key.public_key.point, b"abd", der)]
    ) == [True, False]


def test_gmssl_vector() -> None:
    """gmssl agrees on the standard's worked example (an independent check of Z and e)."""
    raw = VECTOR_R.to_bytes(32, "big") + VECTOR_S.to_bytes(32, "big")
    point = b"\x04" + VECTOR_X.to_bytes(32, "big") + VECTOR_Y.to_bytes(32, "big")
    assert _gmssl_verify([(point, VECTOR_MESSAGE, signature_to_der(raw))]) == [True]
