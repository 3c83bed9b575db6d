"""GB/T 38540 / GM/T 0031 e-seals (bdcert.gm.ses) and workspace seal management (bdcert.gm.seals).

Signatures are checked independently with the ``openssl`` command line: the signed bytes are cut
out of our DER with ``openssl asn1parse``, not with our parser. Needs the ``gm`` extra
(tongsuopy) and openssl 3.x; without them these tests skip on a laptop and fail under
``CI=true``.
"""

from __future__ import annotations

import contextlib
import random
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from asn1crypto import core

from tests.support import require_module, require_openssl

require_module("tongsuopy", "tongsuopy (the gm extra)", install="pip install -e '.[gm,test]'")

from bdcert.errors import SealingError  # noqa: E402
from bdcert.gm import seals as seal_store  # noqa: E402
from bdcert.gm import ses  # noqa: E402
from bdcert.gm.ses import (  # noqa: E402
    CertInfoList,
    ESPictureInfo,
    ESPropertyInfoV1,
    ESPropertyInfoV4,
    ExtData,
    SealFormatError,
    SealInfoV1,
    SealInfoV4,
    SealPicture,
    SealSignRangeV1,
    SESealV1,
    SESealV4,
    SESHeader,
    SESSignatureV1,
    SESSignatureV4,
    SesTime,
    SignInfoV1,
    TBSSignV1,
    TBSSignV4,
)
from bdcert.gm.sm2 import OID_SM2_WITH_SM3, SM2PrivateKey  # noqa: E402
from bdcert.gm.x509 import make_sm2_certificate, sm2_public_key_of  # noqa: E402
from bdcert.model import CHINA_TZ, Authority, VerdictCode  # noqa: E402

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
START = NOW - timedelta(days=10)
END = NOW + timedelta(days=365)
HASH = bytes(range(32))
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24  # a PNG signature is all the seal code looks at
PICTURE = SealPicture(type="PNG", data=PNG, width_mm=42, height_mm=42)
AUTHORITY = Authority(
    code="510100",
    name="成都市不动产登记中心",
    province_abbr="川",
    place_name="成都市",
    credit_code="12510100MB0000000X",
    division_code="510100",
)


@attrs.define(frozen=True)
class Pki:
    root: bytes
    maker_key: SM2PrivateKey
    maker: bytes
    signer_key: SM2PrivateKey
    signer: bytes
    other_signer_key: SM2PrivateKey
    other_signer: bytes
    rogue_root: bytes
    rogue_maker_key: SM2PrivateKey
    rogue_maker: bytes


def _cert(
    cn: str, key: SM2PrivateKey, issuer: bytes | None, issuer_key: SM2PrivateKey, serial: int
) -> bytes:
    return make_sm2_certificate(
        subject={"C": "CN", "O": "bdcert test", "CN": cn},
        issuer_cert_der=issuer,
        issuer_key=issuer_key,
        public_key=key.public_key,
        serial=serial,
        not_before=NOW - timedelta(days=400),
        not_after=NOW + timedelta(days=3650),
        ca=issuer is None,
        key_usage=["key_cert_sign", "crl_sign"]
        if issuer is None
        else ["digital_signature", "non_repudiation"],
    )


@pytest.fixture(scope="module")
def pki() -> Pki:
    root_key, rogue_root_key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    root = _cert("test SM2 root", root_key, None, root_key, 1)
    rogue_root = _cert("rogue SM2 root", rogue_root_key, None, rogue_root_key, 1)
    keys = [SM2PrivateKey.generate() for _ in range(4)]
    return Pki(
        root=root,
        maker_key=keys[0],
        maker=_cert("seal maker", keys[0], root, root_key, 2),
        signer_key=keys[1],
        signer=_cert("成都市不动产登记中心 signer", keys[1], root, root_key, 3),
        other_signer_key=keys[2],
        other_signer=_cert("another signer", keys[2], root, root_key, 4),
        rogue_root=rogue_root,
        rogue_maker_key=keys[3],
        rogue_maker=_cert("seal maker", keys[3], rogue_root, rogue_root_key, 2),
    )


def _seal(pki: Pki, **overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "maker_key": pki.maker_key,
        "maker_cert_der": pki.maker,
        "es_id": "5101002025020101",
        "name": AUTHORITY.name,
        "signer_certs": [pki.signer],
        "picture": PICTURE,
        "valid_start": START,
        "valid_end": END,
        "created": START,
    }
    args.update(overrides)
    return ses.make_seal(**args)


@pytest.fixture(scope="module")
def seal_der(pki: Pki) -> bytes:
    return _seal(pki)


@pytest.fixture(scope="module")
def signature_der(pki: Pki, seal_der: bytes) -> bytes:
    return ses.sign_data(
        seal_der=seal_der,
        signer_key=pki.signer_key,
        signer_cert_der=pki.signer,
        data_hash=HASH,
        property_info=PROPERTY,
        time=NOW,
    )


# -- independent checks --------------------------------------------------------------------

_ASN1PARSE = re.compile(r"^\s*(\d+):d=(\d+)\s+hl=(\d+)\s+l=\s*(\d+)\s+(?:cons|prim):\s+(.+?)\s*$")


def children(openssl: str, tmp_path: Path, der: bytes) -> list[tuple[str, bytes]]:
    """The outer SEQUENCE's elements as (type, full TLV bytes), read by ``openssl asn1parse``."""
    path = tmp_path / "outer.der"
    path.write_bytes(der)
    out = subprocess.run(
        [openssl, "asn1parse", "-inform", "DER", "-in", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = []
    for line in out.splitlines():
        m = _ASN1PARSE.match(line)
        if m and m.group(2) == "1":
            offset, header, length = int(m.group(1)), int(m.group(3)), int(m.group(4))
            kind = re.split(r":|\s{2,}", m.group(5))[0]
            found.append((kind, der[offset : offset + header + length]))
    return found


def bit_string_content(tlv: bytes) -> bytes:
    """The bytes of a short- or long-form BIT STRING TLV with no unused bits."""
    assert tlv[0] == 0x03
    header = 2 if tlv[1] < 0x80 else 2 + (tlv[1] & 0x7F)
    assert tlv[header] == 0, "unused bits"
    return tlv[header + 1 :]


def openssl_verifies(
    openssl: str, tmp_path: Path, cert_der: bytes, data: bytes, signature: bytes
) -> bool:
    """``openssl pkeyutl -verify`` with SM3 and the default distinguishing ID."""
    (tmp_path / "pub.pem").write_bytes(sm2_public_key_of(cert_der).to_pem())
    (tmp_path / "data.der").write_bytes(data)
    (tmp_path / "sig.der").write_bytes(signature)
    command = [
        *(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem")),
        *("-rawin", "-in", str(tmp_path / "data.der"), "-sigfile", str(tmp_path / "sig.der")),
        *("-digest", "sm3", "-pkeyopt", "distid:1234567812345678"),
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    return run.returncode == 0 and "Signature Verified Successfully" in run.stdout


# -- seals ---------------------------------------------------------------------------------


def test_seal_parses_back_with_every_field(pki: Pki, seal_der: bytes) -> None:
    seal = ses.parse_seal(seal_der)
    assert seal.version == 4
    assert seal.vid == "bdcert"
    assert seal.es_id == "5101002025020101"
    assert seal.type == ses.SEAL_TYPE_ORGANIZATION
    assert seal.name == AUTHORITY.name
    assert seal.cert_list_type == ses.CERT_LIST_CERTS
    assert seal.signer_certs == (pki.signer,)
    assert (seal.created, seal.valid_start, seal.valid_end) == (START, START, END)
    assert seal.valid_end.tzinfo is not None
    assert seal.picture == PICTURE
    assert seal.maker_cert == pki.maker
    assert seal.sign_alg == OID_SM2_WITH_SM3
    assert seal.der == seal_der
    assert seal.seal_info_der == seal.signed_der
    assert seal.seal_info_der in seal_der
    assert seal.lists_signer(pki.signer) and not seal.lists_signer(pki.other_signer)


def test_seal_der_is_canonical(seal_der: bytes) -> None:
    # Re-encoding every field from scratch gives the same bytes: the output is DER.
    assert SESealV4.load(seal_der).dump(force=True) == seal_der
    # Times are GeneralizedTime in UTC (tag 0x18, 15 bytes, ending in Z).
    assert b"\x18\x0f" + START.strftime("%Y%m%d%H%M%SZ").encode() in seal_der


def test_seal_signature_verifies_with_openssl(pki: Pki, seal_der: bytes, tmp_path: Path) -> None:
    openssl = require_openssl()
    parts = children(openssl, tmp_path, seal_der)
    assert [kind for kind, _ in parts] == ["SEQUENCE", "OCTET STRING", "OBJECT", "BIT STRING"]
    seal_info, signature = parts[0][1], bit_string_content(parts[3][1])
    assert seal_info == ses.parse_seal(seal_der).seal_info_der
    assert openssl_verifies(openssl, tmp_path, pki.maker, seal_info, signature)
    tampered = bytearray(seal_info)
    tampered[-1] ^= 1
    assert not openssl_verifies(openssl, tmp_path, pki.maker, bytes(tampered), signature)


def test_verify_seal(pki: Pki, seal_der: bytes) -> None:
    seal = ses.parse_seal(seal_der)
    assert ses.verify_seal(seal, trust_roots=[pki.root], at=NOW) is None
    untrusted = ses.verify_seal(seal, trust_roots=[pki.rogue_root], at=NOW)
    assert untrusted and "maker certificate" in untrusted and "untrusted" in untrusted
    for moment in (START - timedelta(seconds=1), END + timedelta(seconds=1)):
        why = ses.verify_seal(seal, trust_roots=[pki.root], at=moment)
        assert why and "not valid at" in why
    expired_cert = ses.verify_seal(seal, trust_roots=[pki.root], at=NOW + timedelta(days=4000))
    assert expired_cert and "expired" in expired_cert
    forged = attrs.evolve(seal, signature=ses.parse_seal(_seal(pki, name="伪造")).signature)
    why = ses.verify_seal(forged, trust_roots=[pki.root], at=NOW)
    assert why and "does not verify" in why


def test_make_seal_refuses_unusable_arguments(pki: Pki) -> None:
    with pytest.raises(SealingError, match="does not match"):
        _seal(pki, maker_key=pki.signer_key)
    with pytest.raises(SealingError, match="before it starts"):
        _seal(pki, valid_end=START)
    with pytest.raises(SealingError, match="timezone-aware"):
        _seal(pki, valid_start=datetime(2025, 1, 1))
    with pytest.raises(SealingError, match="ASCII"):
        _seal(pki, es_id="印章1")
    with pytest.raises(SealingError, match="at least one"):
        _seal(pki, signer_certs=[])


# -- signatures ----------------------------------------------------------------------------


def test_signature_parses_back(pki: Pki, seal_der: bytes, signature_der: bytes) -> None:
    sig = ses.parse_signature(signature_der)
    assert sig.version == 4
    assert sig.seal == ses.parse_seal(seal_der)
    assert sig.seal.der == seal_der
    assert sig.time == NOW
    assert sig.data_hash == HASH
    assert sig.property_info == PROPERTY
    assert sig.signer_cert == pki.signer
    assert sig.sign_alg == OID_SM2_WITH_SM3
    assert sig.timestamp is None
    assert sig.der == signature_der
    assert sig.tbs_der in signature_der and seal_der in sig.tbs_der
    assert SESSignatureV4.load(signature_der).dump(force=True) == signature_der


def test_signature_verifies_with_openssl(pki: Pki, signature_der: bytes, tmp_path: Path) -> None:
    openssl = require_openssl()
    parts = children(openssl, tmp_path, signature_der)
    assert [kind for kind, _ in parts] == ["SEQUENCE", "OCTET STRING", "OBJECT", "BIT STRING"]
    tbs, signature = parts[0][1], bit_string_content(parts[3][1])
    assert tbs == ses.parse_signature(signature_der).tbs_der
    assert openssl_verifies(openssl, tmp_path, pki.signer, tbs, signature)
    assert not openssl_verifies(openssl, tmp_path, pki.maker, tbs, signature)


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def test_verify_signature_codes(pki: Pki, signature_der: bytes) -> None:
    sig = ses.parse_signature(signature_der)
    roots = [pki.root]
    code, detail = ses.verify_signature(sig, data_hash=HASH, trust_roots=roots)
    assert code is VerdictCode.VALID, detail
    code, _ = ses.verify_signature(sig, data_hash=_flip(HASH, 0), trust_roots=roots)
    assert code is VerdictCode.DIGEST_MISMATCH
    for index in (10, len(sig.signature) - 1):
        flipped = attrs.evolve(sig, signature=_flip(sig.signature, index))
        code, _ = ses.verify_signature(flipped, data_hash=HASH, trust_roots=roots)
        assert code is VerdictCode.SIGNATURE_INVALID
    # a byte flipped in the signature inside the DER, read back through the parser
    at = signature_der.index(sig.signature) + 20
    reread = ses.parse_signature(_flip(signature_der, at))
    code, _ = ses.verify_signature(reread, data_hash=HASH, trust_roots=roots)
    assert code is VerdictCode.SIGNATURE_INVALID
    code, detail = ses.verify_signature(sig, data_hash=HASH, trust_roots=[pki.rogue_root])
    assert code is VerdictCode.UNTRUSTED_SIGNER and "maker" in detail


def test_verify_signature_refuses_raw_rs(pki: Pki, signature_der: bytes) -> None:
    """GM/T 0010: the signature is DER; its raw r || s is another byte form of the same seal."""
    from bdcert.gm.sm2 import signature_to_raw

    sig = ses.parse_signature(signature_der)
    assert ses.verify_signature(sig, data_hash=HASH, trust_roots=[pki.root])[0] is VerdictCode.VALID
    raw = attrs.evolve(sig, signature=signature_to_raw(sig.signature))
    code, detail = ses.verify_signature(raw, data_hash=HASH, trust_roots=[pki.root])
    assert code is VerdictCode.SIGNATURE_INVALID, detail


def test_seal_from_an_untrusted_maker(pki: Pki) -> None:
    rogue_seal = _seal(pki, maker_key=pki.rogue_maker_key, maker_cert_der=pki.rogue_maker)
    der = ses.sign_data(
        seal_der=rogue_seal,
        signer_key=pki.signer_key,
        signer_cert_der=pki.signer,
        data_hash=HASH,
        property_info=PROPERTY,
        time=NOW,
    )
    code, detail = ses.verify_signature(
        ses.parse_signature(der), data_hash=HASH, trust_roots=[pki.root]
    )
    assert code is VerdictCode.UNTRUSTED_SIGNER
    assert "maker certificate" in detail


def craft_signature(
    pki: Pki,
    seal_der: bytes,
    *,
    time: datetime = NOW,
    signer_key: SM2PrivateKey | None = None,
    signer: bytes | None = None,
    ext_tagged: bool | None = None,
    timestamp_tagged: bool | None = None,
) -> bytes:
    """An SES_Signature built by hand with the ASN.1 classes, with none of sign_data's checks."""
    key, cert = signer_key or pki.signer_key, signer or pki.signer
    fields: dict[str, Any] = {
        "version": 4,
        "eseal": SESealV4.load(seal_der),
        "time_info": SesTime(name="general_time", value=time),
        "data_hash": HASH,
        "property_info": PROPERTY,
    }
    ext = [ExtData({"extn_id": "1.2.156.999.1", "extn_value": b"vendor"})]
    if ext_tagged is True:
        fields["ext_datas"] = ext
    elif ext_tagged is False:
        fields["ext_datas_untagged"] = ext
    tbs_der = TBSSignV4(fields).dump()
    outer: dict[str, Any] = {
        "to_sign": TBSSignV4.load(tbs_der),
        "cert": cert,
        "signature_alg_id": OID_SM2_WITH_SM3,
        "signature": key.sign(tbs_der),
    }
    if timestamp_tagged is True:
        outer["time_stamp"] = b"token"
    elif timestamp_tagged is False:
        outer["time_stamp_untagged"] = b"token"
    return bytes(SESSignatureV4(outer).dump())


def test_signing_outside_the_validity_window(pki: Pki, seal_der: bytes) -> None:
    for moment in (START - timedelta(seconds=1), END + timedelta(days=1)):
        with pytest.raises(SealingError, match="not valid at"):
            ses.sign_data(
                seal_der=seal_der,
                signer_key=pki.signer_key,
                signer_cert_der=pki.signer,
                data_hash=HASH,
                property_info=PROPERTY,
                time=moment,
            )
        sig = ses.parse_signature(craft_signature(pki, seal_der, time=moment))
        code, detail = ses.verify_signature(sig, data_hash=HASH, trust_roots=[pki.root])
        assert code is VerdictCode.UNTRUSTED_SIGNER
        assert "not valid at" in detail


def test_signer_not_in_the_seal(pki: Pki, seal_der: bytes) -> None:
    with pytest.raises(SealingError, match="not in the certificate list"):
        ses.sign_data(
            seal_der=seal_der,
            signer_key=pki.other_signer_key,
            signer_cert_der=pki.other_signer,
            data_hash=HASH,
            property_info=PROPERTY,
            time=NOW,
        )
    crafted = craft_signature(
        pki, seal_der, signer_key=pki.other_signer_key, signer=pki.other_signer
    )
    code, detail = ses.verify_signature(
        ses.parse_signature(crafted), data_hash=HASH, trust_roots=[pki.root]
    )
    assert code is VerdictCode.UNTRUSTED_SIGNER and "not in the certificate list" in detail


def test_sign_data_refuses_unusable_arguments(pki: Pki, seal_der: bytes) -> None:
    base: dict[str, Any] = {
        "seal_der": seal_der,
        "signer_key": pki.signer_key,
        "signer_cert_der": pki.signer,
        "data_hash": HASH,
        "property_info": PROPERTY,
        "time": NOW,
    }
    for change, message in (
        ({"signer_key": pki.other_signer_key}, "does not match"),
        ({"property_info": "/文档/Signature.xml"}, "ASCII"),
        ({"data_hash": b""}, "non-empty"),
        ({"time": datetime(2025, 3, 1)}, "timezone-aware"),
        ({"seal_der": b"\x30\x00"}, "SESeal"),
    ):
        with pytest.raises(SealingError, match=message):
            ses.sign_data(**(base | change))


def test_times_in_china_time_are_kept_exact(pki: Pki, seal_der: bytes) -> None:
    local = NOW.astimezone(CHINA_TZ).replace(microsecond=123456)
    der = ses.sign_data(
        seal_der=seal_der,
        signer_key=pki.signer_key,
        signer_cert_der=pki.signer,
        data_hash=HASH,
        property_info=PROPERTY,
        time=local,
    )
    assert ses.parse_signature(der).time == NOW  # whole seconds, UTC


# -- tagged and untagged optional fields, v1 -----------------------------------------------


def _seal_info_v4(pki: Pki, **extra: Any) -> bytes:
    info = SealInfoV4(
        {
            "header": SESHeader({"id": "ES", "version": 4, "vid": "other-vendor"}),
            "es_id": "EXT1",
            "property": ESPropertyInfoV4(
                {
                    "type": 1,
                    "name": "扩展印章",
                    "cert_list_type": 1,
                    "cert_list": CertInfoList([pki.signer]),
                    "create_date": SesTime(name="general_time", value=START),
                    "valid_start": SesTime(name="general_time", value=START),
                    "valid_end": SesTime(name="general_time", value=END),
                }
            ),
            "picture": ESPictureInfo({"type": "PNG", "data": PNG, "width": 40, "height": 40}),
            **extra,
        }
    )
    return bytes(info.dump())


def _sealed(pki: Pki, info_der: bytes) -> bytes:
    seal = SESealV4(
        {
            "e_seal_info": SealInfoV4.load(info_der),
            "cert": pki.maker,
            "sign_alg_id": OID_SM2_WITH_SM3,
            "signed_value": pki.maker_key.sign(info_der),
        }
    )
    return bytes(seal.dump())


@pytest.mark.parametrize("field", ["ext_datas", "ext_datas_tagged"])
def test_v4_seal_with_tagged_or_untagged_ext_datas(pki: Pki, field: str) -> None:
    ext = [ExtData({"extn_id": "1.2.156.999.1", "extn_value": b"x"})]
    info_der = _seal_info_v4(pki, **{field: ext})
    parsed = SealInfoV4.load(info_der)
    assert parsed[field].native is not None
    assert parsed["ext_datas_tagged" if field == "ext_datas" else "ext_datas"].native is None
    seal = ses.parse_seal(_sealed(pki, info_der))
    assert seal.seal_info_der == info_der and seal.vid == "other-vendor"
    assert ses.verify_seal(seal, trust_roots=[pki.root], at=NOW) is None


def test_ext_data_omits_a_false_critical() -> None:
    der = ExtData({"extn_id": "1.2.156.999.1", "critical": False, "extn_value": b"x"}).dump()
    assert b"\x01\x01\x00" not in der
    # An explicit FALSE (not DER, but written by some implementations) is read, and kept as is.
    body = core.ObjectIdentifier("1.2.156.999.1").dump() + b"\x01\x01\x00" + b"\x04\x01x"
    explicit_false = b"\x30" + bytes([len(body)]) + body
    parsed = ExtData.load(explicit_false)
    assert parsed["critical"].native is False and parsed.dump() == explicit_false


@pytest.mark.parametrize("ext_tagged", [True, False, None])
@pytest.mark.parametrize("timestamp_tagged", [True, False, None])
def test_v4_signature_with_tagged_or_untagged_fields(
    pki: Pki, seal_der: bytes, ext_tagged: bool | None, timestamp_tagged: bool | None
) -> None:
    der = craft_signature(pki, seal_der, ext_tagged=ext_tagged, timestamp_tagged=timestamp_tagged)
    sig = ses.parse_signature(der)
    assert sig.timestamp == (None if timestamp_tagged is None else b"token")
    code, detail = ses.verify_signature(sig, data_hash=HASH, trust_roots=[pki.root])
    if timestamp_tagged is None:
        assert code is VerdictCode.VALID, detail
    else:  # read in either form, and checked: b"token" is no time-stamp token
        assert code is VerdictCode.SIGNATURE_INVALID and "timeStamp" in detail, detail


def _v1_seal(pki: Pki, *, header_version: int = 2, sign_whole_range: bool = True) -> bytes:
    info = SealInfoV1(
        {
            "header": SESHeader({"id": "ES", "version": header_version, "vid": "legacy"}),
            "es_id": "V1SEAL0001",
            "property": ESPropertyInfoV1(
                {
                    "type": 1,
                    "name": "旧版印章",
                    "cert_list": CertInfoList([pki.signer]),
                    "create_date": SesTime(name="utc_time", value=START),
                    "valid_start": SesTime(name="utc_time", value=START),
                    "valid_end": SesTime(name="utc_time", value=END),
                }
            ),
            "picture": ESPictureInfo({"type": "PNG", "data": PNG, "width": 38, "height": 38}),
        }
    )
    info_der = info.dump()
    signed = SealSignRangeV1(
        {
            "eseal_info": SealInfoV1.load(info_der),
            "cert": pki.maker,
            "signature_algorithm": OID_SM2_WITH_SM3,
        }
    ).dump()
    seal = SESealV1(
        {
            "eseal_info": SealInfoV1.load(info_der),
            "sign_info": SignInfoV1(
                {
                    "cert": pki.maker,
                    "signature_algorithm": OID_SM2_WITH_SM3,
                    "sign_data": pki.maker_key.sign(signed if sign_whole_range else info_der),
                }
            ),
        }
    )
    return bytes(seal.dump())


@pytest.mark.parametrize("sign_whole_range", [True, False])
def test_v1_seal(pki: Pki, sign_whole_range: bool) -> None:
    der = _v1_seal(pki, sign_whole_range=sign_whole_range)
    seal = ses.parse_seal(der)
    assert seal.version == 1
    assert (seal.es_id, seal.name, seal.vid, seal.type) == ("V1SEAL0001", "旧版印章", "legacy", 1)
    assert seal.signer_certs == (pki.signer,)
    assert (seal.created, seal.valid_start, seal.valid_end) == (START, START, END)
    assert seal.picture == SealPicture("PNG", PNG, 38, 38)
    assert seal.maker_cert == pki.maker and seal.der == der
    assert ses.verify_seal(seal, trust_roots=[pki.root], at=NOW) is None
    with pytest.raises(SealingError, match="v4 seal"):
        ses.sign_data(
            seal_der=der,
            signer_key=pki.signer_key,
            signer_cert_der=pki.signer,
            data_hash=HASH,
            property_info=PROPERTY,
            time=NOW,
        )


def test_v1_signature(pki: Pki) -> None:
    seal_der = _v1_seal(pki)
    tbs = TBSSignV1(
        {
            "version": 2,
            "eseal": SESealV1.load(seal_der),
            "time_info": NOW.strftime("%Y%m%d%H%M%SZ").encode(),
            "data_hash": HASH,
            "property_info": PROPERTY,
            "cert": pki.signer,
            "signature_algorithm": OID_SM2_WITH_SM3,
        }
    )
    tbs_der = tbs.dump()
    der = SESSignatureV1(
        {"to_sign": TBSSignV1.load(tbs_der), "signature": pki.signer_key.sign(tbs_der)}
    ).dump()
    sig = ses.parse_signature(der)
    assert (sig.version, sig.time, sig.signer_cert, sig.tbs_der) == (1, NOW, pki.signer, tbs_der)
    assert sig.seal.der == seal_der
    assert ses.verify_signature(sig, data_hash=HASH, trust_roots=[pki.root])[0] is VerdictCode.VALID


# -- hostile input -------------------------------------------------------------------------


def _rejects(parse: Any, data: Any, match: str | None = None) -> None:
    with pytest.raises(SealFormatError, match=match) as info:
        parse(data)
    assert isinstance(info.value, SealingError) and isinstance(info.value, ValueError)


def test_truncated_and_padded_input(seal_der: bytes, signature_der: bytes) -> None:
    for der, parse in ((seal_der, ses.parse_seal), (signature_der, ses.parse_signature)):
        for cut in (0, 1, 2, 10, len(der) // 2, len(der) - 1):
            _rejects(parse, der[:cut])
        _rejects(parse, der + b"\x00", "trailing")


def test_random_bytes_and_wrong_types() -> None:
    rng = random.Random(38540)
    for _ in range(300):
        blob = rng.randbytes(rng.randrange(0, 300))
        for parse in (ses.parse_seal, ses.parse_signature):
            _rejects(parse, blob)
    _rejects(ses.parse_seal, "not bytes", "bytes")
    _rejects(ses.parse_seal, None, "bytes")
    _rejects(ses.parse_seal, bytes.fromhex("3003020101"), "1")  # one element
    _rejects(ses.parse_signature, bytes.fromhex("3009020101020101020101"), "3")


def test_wrong_versions(pki: Pki, seal_der: bytes) -> None:
    wrong_header = _sealed(
        pki, _seal_info_v4(pki, header=SESHeader({"id": "ES", "version": 5, "vid": "x"}))
    )
    _rejects(ses.parse_seal, wrong_header, "version 5")
    wrong_id = _sealed(
        pki, _seal_info_v4(pki, header=SESHeader({"id": "XX", "version": 4, "vid": "x"}))
    )
    _rejects(ses.parse_seal, wrong_id, "'ES'")
    _rejects(ses.parse_seal, _v1_seal(pki, header_version=4), "version 4")
    tbs = TBSSignV4(
        {
            "version": 3,
            "eseal": SESealV4.load(seal_der),
            "time_info": SesTime(name="general_time", value=NOW),
            "data_hash": HASH,
            "property_info": PROPERTY,
        }
    )
    der = SESSignatureV4(
        {
            "to_sign": tbs,
            "cert": pki.signer,
            "signature_alg_id": OID_SM2_WITH_SM3,
            "signature": b"\x00" * 64,
        }
    ).dump()
    _rejects(ses.parse_signature, der, "TBS_Sign.version 3")


def test_unknown_cert_list_type(pki: Pki) -> None:
    info = SealInfoV4.load(_seal_info_v4(pki))
    info["property"]["cert_list_type"] = 7
    _rejects(ses.parse_seal, _sealed(pki, info.dump(force=True)), "certListType 7")


def test_mutated_input_never_crashes(seal_der: bytes, signature_der: bytes) -> None:
    rng = random.Random(31)
    for der, parse in ((seal_der, ses.parse_seal), (signature_der, ses.parse_signature)):
        for _ in range(400):
            data = bytearray(der)
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            with contextlib.suppress(SealFormatError):  # anything else fails the test
                parse(bytes(data))


# -- workspace seals -----------------------------------------------------------------------


def _create(pki: Pki, workspace: Path, *, days: int, now: datetime = NOW) -> Path:
    return seal_store.create_authority_seal(
        workspace,
        AUTHORITY,
        pki.maker_key,
        pki.maker,
        pki.signer,
        PNG,
        valid_days=days,
        now=now,
    )


def test_create_authority_seal(pki: Pki, tmp_path: Path) -> None:
    path = _create(pki, tmp_path, days=365 * 3)
    assert path.parent == tmp_path / "seals"
    assert path.name == f"510100-5101002025030101{seal_store.SEAL_SUFFIX}"
    seal = ses.parse_seal(path.read_bytes())
    assert seal.name == AUTHORITY.name and seal.signer_certs == (pki.signer,)
    assert seal.picture == SealPicture("PNG", PNG, 42, 42)
    assert seal.valid_start == NOW and seal.valid_end == NOW + timedelta(days=365 * 3)
    assert ses.verify_seal(seal, trust_roots=[pki.root], at=NOW) is None
    second = _create(pki, tmp_path, days=10)
    assert second.name == "510100-5101002025030102.esl"
    with pytest.raises(SealingError, match="PNG"):
        seal_store.create_authority_seal(
            tmp_path, AUTHORITY, pki.maker_key, pki.maker, pki.signer, b"GIF89a"
        )


def test_list_seals_warns_before_expiry(pki: Pki, tmp_path: Path) -> None:
    _create(pki, tmp_path / "a", days=29)
    _create(pki, tmp_path / "b", days=31)
    (short,) = seal_store.list_seals(tmp_path / "a", at=NOW)
    (long,) = seal_store.list_seals(tmp_path / "b", at=NOW)
    assert short.days_left == 29 and short.authority_code == "510100"
    assert short.warning and "29 days" in short.warning and "renew" in short.warning
    assert long.days_left == 31 and long.warning is None
    (expired,) = seal_store.list_seals(tmp_path / "b", at=NOW + timedelta(days=40))
    assert expired.days_left < 0 and expired.warning and "expired" in expired.warning
    assert seal_store.list_seals(tmp_path / "empty") == []


def test_current_seal(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(SealingError, match="510100"):
        seal_store.current_seal(tmp_path, "510100", NOW)
    old = _create(pki, tmp_path, days=100, now=NOW - timedelta(days=50))
    new = _create(pki, tmp_path, days=365, now=NOW)
    short = _create(pki, tmp_path, days=5, now=NOW)
    assert len(seal_store.list_seals(tmp_path, at=NOW)) == 3
    assert seal_store.current_seal(tmp_path, "510100", NOW).der == new.read_bytes()
    before = seal_store.current_seal(tmp_path, "510100", NOW - timedelta(days=1))
    assert before.der == old.read_bytes()
    assert short.exists()
    with pytest.raises(SealingError, match="authority 510100 has no seal valid"):
        seal_store.current_seal(tmp_path, "510100", NOW + timedelta(days=400))
    with pytest.raises(SealingError, match="authority 510104"):
        seal_store.current_seal(tmp_path, "510104", NOW)


def test_unreadable_seal_file_is_named(pki: Pki, tmp_path: Path) -> None:
    path = _create(pki, tmp_path, days=10)
    path.write_bytes(b"garbage")
    with pytest.raises(SealFormatError, match=re.escape(path.name)):
        seal_store.list_seals(tmp_path, at=NOW)
