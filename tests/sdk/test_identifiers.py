from __future__ import annotations

import pytest

from bdcert.identifiers import (
    check_credit_code,
    check_resident_id,
    check_unit_number,
    format_certificate_number,
    iso7064_mod37_36,
    licence_identifier,
    parse_certificate_number,
)
from bdcert.model import CertificateKind

PUBLIC_IDENTIFIERS = [  # FACTS.md: public e-licence identifiers whose check characters verify
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
    "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9",
]


@pytest.mark.parametrize("identifier", PUBLIC_IDENTIFIERS)
def test_licence_identifier_matches_public_vectors(identifier: str) -> None:
    parts = identifier.split(".")
    type_code, issuer, serial, version, check = parts[5], parts[6], parts[7], parts[8], parts[9]
    assert iso7064_mod37_36(type_code + issuer + serial + version) == check
    assert licence_identifier(type_code, issuer, serial, int(version)) == identifier


def test_licence_identifier_detects_a_changed_character() -> None:
    good = PUBLIC_IDENTIFIERS[2].split(".")
    body = "".join(good[5:9])
    changed = body[:-4] + ("1" if body[-4] != "1" else "2") + body[-3:]
    assert iso7064_mod37_36(changed) != good[9]


@pytest.mark.parametrize(
    "unit",
    [
        "440101001001GB00001F00010001",
        "510116105004GB00302W00000000",
        "510781209101JE00023L00000001",
    ],
)
def test_unit_numbers_accepted(unit: str) -> None:
    assert check_unit_number(unit) is None


@pytest.mark.parametrize(
    ("unit", "fragment"),
    [
        ("510104001001GB00001F0001000", "27 characters"),
        ("510104001001XB00001F00010001", "character 13"),
        ("510104001001GI00001F00010001", "character 14"),
        ("510104001001GB00001K00010001", "character 20"),
        ("510116105004GB00302W00000001", "00000000"),
        ("510116105004GB00302F00000000", "other than 00000000"),
        ("51010400100AGB00001F00010001", "digits"),
    ],
)
def test_unit_numbers_rejected(unit: str, fragment: str) -> None:
    message = check_unit_number(unit)
    assert message is not None and fragment in message


def test_resident_id_check_character_and_lower_case_x() -> None:
    assert check_resident_id("510104198503120176") is None
    assert "check character" in (check_resident_id("510104198503120170") or "")
    assert "birth date" in (check_resident_id("510104198513120176") or "")
    # 11010519491231002X is the standard's example; a lower-case x is the same person
    assert check_resident_id("11010519491231002X") is None
    assert check_resident_id("11010519491231002x") is None


def test_credit_code_check_character() -> None:
    assert check_credit_code("91510107MA61XY4L29") is None
    assert check_credit_code("12510100MB1C7A3X2H") is None
    assert "check character" in (check_credit_code("91510107MA61XY4L28") or "")
    assert check_credit_code("91510107MA61XY4LI9") is not None  # I is not in the alphabet


def test_certificate_number_round_trip_and_full_width_parentheses() -> None:
    number = format_certificate_number("川", 2024, "成都市", CertificateKind.REGISTRATION_PROOF, 12)
    assert number == "川(2024)成都市不动产证明第0000012号"
    assert parse_certificate_number(number) == (
        "川",
        2024,
        "成都市",
        CertificateKind.REGISTRATION_PROOF,
        12,
    )
    assert parse_certificate_number("川（2019）成都市不动产权第0451234号") == (
        "川",
        2019,
        "成都市",
        CertificateKind.PROPERTY_CERTIFICATE,
        451234,
    )
    assert parse_certificate_number("成都市第12号") is None
    with pytest.raises(ValueError):
        format_certificate_number("川", 2024, "成都市", CertificateKind.REGISTRATION_PROOF, 10**7)
