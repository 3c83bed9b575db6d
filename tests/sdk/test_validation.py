from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bdcert.codes import NATIONAL_2024
from bdcert.config import load_authorities
from bdcert.errors import ValidationError
from bdcert.model import CertificateKind
from bdcert.validation import has_visible, parse_entry, parse_share
from tests.support import AUTHORITIES, require_shared


@pytest.fixture(scope="module")
def authorities() -> Any:
    require_shared()
    return load_authorities(AUTHORITIES)


def problems(raw: Any, authorities: Any, codes: Any = NATIONAL_2024) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        parse_entry(raw, authorities=authorities, codes=codes)
    return {p.field: p.message for p in info.value.problems}


def test_timeline_lines_get_the_expected_field(
    timeline: Any, expected: Any, authorities: Any
) -> None:
    """Lines whose rejection the entry alone decides name exactly the expected field."""
    for raw, want in zip(timeline, expected, strict=True):
        if want["outcome"] == "rejected" and want["field"] != "ywh":
            assert want["field"] in problems(raw, authorities), want
        elif want["outcome"] != "rejected":
            entry = parse_entry(raw, authorities=authorities, codes=NATIONAL_2024)
            if want["outcome"] == "issued":
                assert entry.produces is CertificateKind(want["kind"])
            elif want["outcome"] == "none":
                assert entry.produces is None


def test_one_error_lists_every_problem(timeline: Any, authorities: Any) -> None:
    raw = copy.deepcopy(timeline[2])  # 按份共有, two holders
    raw["qlr"][0]["zjh"] = "510108199007070550"
    raw["qlr"][1]["qlbl"] = "30%"
    raw["bdcdyh"] = ["510108003002GB00110F0001180"]
    raw["mj"] = {"td": -1, "fw": "x"}
    raw["syqx"] = {"qsrq": "2080-03-31", "zzrq": "2010-04-01"}
    raw["dbsj"] = "2024-03-06T09:15:00"
    raw["qllx"] = "77"
    raw["colour"] = "red"
    found = problems(raw, authorities)
    for field in ("qlr[0].zjh", "bdcdyh", "mj.td", "mj.fw", "syqx.zzrq", "dbsj", "qllx", "colour"):
        assert field in found, (field, found)
    assert "needs a date, a time and an offset" in found["dbsj"]


def test_lower_case_x_is_the_same_person(timeline: Any, authorities: Any) -> None:
    raw = copy.deepcopy(timeline[0])
    raw["qlr"][0]["zjh"] = "11010519491231002x"
    entry = parse_entry(raw, authorities=authorities, codes=NATIONAL_2024)
    assert entry.holders[0].id_number == "11010519491231002X"
    raw["qlr"][0]["zjh"] = "11010519491231002X"
    assert parse_entry(raw, authorities=authorities, codes=NATIONAL_2024).holders == entry.holders


def test_exact_shares() -> None:
    assert parse_share("60%") + parse_share("40%") == 1
    assert parse_share("1/3") * 3 == 1
    assert parse_share("12.5%") * 8 == 1
    for bad in ("0%", "150%", "1/0", "abc", "2/1"):
        with pytest.raises(ValueError):
            parse_share(bad)


def test_thirds_sum_to_exactly_one(timeline: Any, authorities: Any) -> None:
    raw = copy.deepcopy(timeline[2])
    third = {"mc": "钱卫东", "zjzl": "1", "zjh": "510704196003030194", "qlbl": "1/3"}
    raw["qlr"] = [dict(raw["qlr"][0], qlbl="1/3"), dict(raw["qlr"][1], qlbl="1/3"), third]
    entry = parse_entry(raw, authorities=authorities, codes=NATIONAL_2024)
    assert sum(p.share_fraction for p in entry.holders) == 1  # type: ignore[misc]
    raw["qlr"][2]["qlbl"] = "33.33%"
    assert "qlr" in problems(raw, authorities)


def test_kind_requirements(timeline: Any, authorities: Any) -> None:
    proof = copy.deepcopy(timeline[8])  # 抵押权
    del proof["ywr"], proof["zl"]
    found = problems(proof, authorities)
    assert {"ywr", "zl"} <= set(found)
    cert = copy.deepcopy(timeline[0])
    for key in ("qlxz", "yt", "mj", "gyfs"):
        del cert[key]
    assert {"qlxz", "yt", "mj", "gyfs"} <= set(problems(cert, authorities))
    cancel = copy.deepcopy(timeline[18])
    del cancel["yzh"], cancel["zxyy"]
    assert {"yzh", "zxyy"} <= set(problems(cancel, authorities))
    seize = copy.deepcopy(timeline[19])
    seize["cflx"] = "9"
    del seize["cfwh"]
    assert {"cflx", "cfwh"} <= set(problems(seize, authorities))


def test_paper_originals_need_a_disposition(timeline: Any, authorities: Any) -> None:
    raw = copy.deepcopy(timeline[16])
    raw["yzh"][0]["cl"] = "丢了"
    assert "yzh[0].cl" in problems(raw, authorities)
    raw["yzh"] = [{"zh": "川(2019)成都市不动产权第0451234号", "lx": "纸张"}]
    assert "yzh[0].lx" in problems(raw, authorities)


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("川(2019)成都市不动产权第0451234号", True),
        ("成房权证监证字第1234567号", True),  # 房屋所有权证, before 2015
        ("国用（2010）第00123号", True),  # 国有土地使用证, full-width brackets
        ("川房权证字第１２号", True),  # full-width digits
        ("hello", False),  # no Chinese, no serial
        ("成都市不动产权第号", False),  # no serial number
        ("川(2019)成都市不动产权第0451234号\n", False),
        ("川" + "0" * 70, False),
    ],
)
def test_paper_certificate_numbers_are_plausible(
    timeline: Any, authorities: Any, number: str, ok: bool
) -> None:
    raw = copy.deepcopy(timeline[16])
    raw["yzh"] = [{"zh": number, "lx": "纸质", "cl": "收回"}]
    if ok:
        parse_entry(raw, authorities=authorities, codes=NATIONAL_2024)
    else:
        assert "yzh[0].zh" in problems(raw, authorities)


def test_co_ownership_consistency(timeline: Any, authorities: Any) -> None:
    raw = copy.deepcopy(timeline[1])  # 共同共有 with two holders
    raw["gyfs"] = "0"
    assert "gyfs" in problems(raw, authorities)
    raw = copy.deepcopy(timeline[2])
    del raw["qlr"][1]["qlbl"]
    assert "qlr[1].qlbl" in problems(raw, authorities)


def test_unknown_authority_and_non_object(authorities: Any, timeline: Any) -> None:
    raw = copy.deepcopy(timeline[0])
    raw["djjg"] = "999999"
    assert "djjg" in problems(raw, authorities)
    assert "" in problems(["not", "an", "object"], authorities)


def test_province_override_accepts_a_new_code(timeline: Any, authorities: Any) -> None:
    raw = copy.deepcopy(timeline[22])  # qllx 77
    assert "qllx" in problems(raw, authorities)
    sichuan = NATIONAL_2024.override("sichuan-test", qllx={"77": "试点权利"})
    assert parse_entry(raw, authorities=authorities, codes=sichuan).right_type == "77"
    assert "77" not in NATIONAL_2024.qllx  # the national edition is untouched


def test_fingerprint_ignores_key_order(timeline: Any, authorities: Any) -> None:
    raw = timeline[0]
    reordered = json.loads(json.dumps(dict(reversed(list(raw.items())))))
    a = parse_entry(raw, authorities=authorities, codes=NATIONAL_2024)
    b = parse_entry(reordered, authorities=authorities, codes=NATIONAL_2024)
    assert a.fingerprint == b.fingerprint


# ------------------------------------------------------------------ issue 9: integrity


@pytest.mark.parametrize("blank", ["\u3164", "\u200b", "\u00a0", "\u3000", "\u3164\u200b\u202e"])
def test_a_name_of_only_invisible_characters_is_refused(
    timeline: Any, authorities: Any, blank: str
) -> None:
    """Review: a holder named U+3164 (HANGUL FILLER) gave a certificate with a blank 权利人 row."""
    raw = copy.deepcopy(timeline[0])
    raw["qlr"][0]["mc"] = blank
    found = problems(raw, authorities)
    assert set(found) == {"qlr[0].mc"}, found
    assert "invisible" in found["qlr[0].mc"] or "blanks" in found["qlr[0].mc"]


@pytest.mark.parametrize(
    "blank",
    [
        "\ufe0f\ufe0e",  # variation selectors (review: issued as a holder's name)
        "\U000e0100",  # variation selector supplement
        "\U000e0041\U000e007f",  # tag characters
        "\u0301\u0308",  # combining marks (Mn) with no base
        "\u20dd",  # enclosing mark (Me)
        "\u115f",  # Hangul choseong filler
        "\u1160",  # Hangul jungseong filler
        "\uffa0",  # half-width Hangul filler
        "\u2800",  # braille pattern blank
        "\u2028\u2029",  # line and paragraph separators (Zl, Zp)
        "\ue000",  # private use (Co)
        "\u0378",  # unassigned (Cn)
    ],
)
def test_has_visible_refuses_every_kind_of_blank(blank: str) -> None:
    assert not has_visible(blank)
    assert has_visible("王" + blank)  # a visible character with it is a name


def test_has_visible_keeps_a_base_letter_with_its_combining_mark() -> None:
    assert has_visible("e\u0301")
    assert has_visible("\u845b\U000e0100")  # 葛 with an ideographic variation selector


def test_a_name_of_two_variation_selectors_is_refused(timeline: Any, authorities: Any) -> None:
    """Review: a holder named U+FE0F U+FE0E was issued (combining marks counted as visible)."""
    raw = copy.deepcopy(timeline[0])
    raw["qlr"][0]["mc"] = "\ufe0f\ufe0e"
    found = problems(raw, authorities)
    assert set(found) == {"qlr[0].mc"}, found


def test_a_name_with_visible_characters_and_a_zero_width_joiner_is_kept(
    timeline: Any, authorities: Any
) -> None:
    raw = copy.deepcopy(timeline[0])
    raw["qlr"][0]["mc"] = "王\u200d晓明"
    entry = parse_entry(raw, authorities=authorities, codes=NATIONAL_2024)
    assert entry.holders[0].name == "王\u200d晓明"


def test_a_business_number_of_another_authority_is_refused(timeline: Any, authorities: Any) -> None:
    """Review: a registrar of 成都 (510100) could push under 绵阳's ywh and block its real entry."""
    raw = copy.deepcopy(timeline[0])
    assert raw["djjg"] == "510100"
    raw["ywh"] = "510700-2024-000201"
    found = problems(raw, authorities)
    assert set(found) == {"ywh"} and "510700" in found["ywh"], found
    raw["ywh"] = "510100-2024-777777"
    assert (
        parse_entry(raw, authorities=authorities, codes=NATIONAL_2024).business_number == raw["ywh"]
    )


@pytest.mark.parametrize(
    "ywh",
    ["\uff15\uff11\uff10\uff17\uff10\uff10-2024-000201", "\u0665\u0661\u0660\u0667\u0660\u0660-1"],
)
def test_a_business_number_of_another_authority_in_other_digits_is_refused(
    timeline: Any, authorities: Any, ywh: str
) -> None:
    """Review: "５１０７００-2024-000201" (full-width digits) pushed by 510100 was issued."""
    raw = copy.deepcopy(timeline[0])
    raw["ywh"] = ywh
    found = problems(raw, authorities)
    assert set(found) == {"ywh"} and "510700" in found["ywh"], found


@pytest.mark.parametrize("ywh", ["510100-2024-\x1b[2J", "510100-2024-1\n510100", "510100\u202e-1"])
def test_a_business_number_with_control_characters_is_refused(
    timeline: Any, authorities: Any, ywh: str
) -> None:
    raw = copy.deepcopy(timeline[0])
    raw["ywh"] = ywh
    found = problems(raw, authorities)
    assert set(found) == {"ywh"} and "control" in found["ywh"], found


def test_duplicate_json_keys_are_an_error_naming_the_key() -> None:
    from bdcert.wire import DuplicateKeyError, loads

    assert loads('{"a": 1, "b": {"c": 2}}') == {"a": 1, "b": {"c": 2}}
    with pytest.raises(DuplicateKeyError) as caught:
        loads('{"ywh": "1", "qlr": [{"mc": "a", "mc": "b"}], "ywh": "2"}')
    assert caught.value.keys == ("mc", "ywh")
    with pytest.raises(ValueError, match="NaN"):
        loads('{"mj": NaN}')


def _holders(count: int, name_length: int) -> list[dict[str, str]]:
    return [
        {"mc": "王" * name_length, "zjzl": "99", "zjh": f"X{i}", "qlbl": f"1/{count}"}
        for i in range(count)
    ]


def test_an_entry_is_bounded_in_total_characters_naming_the_largest_fields(
    timeline: Any, authorities: Any
) -> None:
    """Review: 1,000 holders with 10,000-character names (inside every per-field limit) took
    7 minutes and 1.5 GiB to render and held the register's write lock meanwhile."""
    from bdcert.validation import MAX_ENTRY_CHARACTERS

    raw = copy.deepcopy(timeline[0])
    raw["qlr"], raw["gyfs"] = _holders(1_000, 10_000), "2"
    found = problems(raw, authorities)
    assert set(found) == {""}, found
    assert str(MAX_ENTRY_CHARACTERS) in found[""] and "qlr" in found[""]
    raw["qlr"] = _holders(500, 200)  # 100,000 name characters and the rest: just over
    assert "characters" in problems(raw, authorities)[""]
    raw["qlr"] = _holders(300, 200)  # within: then every holder is checked
    assert parse_entry(raw, authorities=authorities, codes=NATIONAL_2024).holders


def test_a_name_is_bounded(timeline: Any, authorities: Any) -> None:
    from bdcert.validation import MAX_NAME

    raw = copy.deepcopy(timeline[0])
    raw["qlr"][0]["mc"] = "王" * (MAX_NAME + 1)
    assert set(problems(raw, authorities)) == {"qlr[0].mc"}


def test_an_entry_is_bounded_in_bytes(
    timeline: Any, authorities: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bdcert import bounds

    raw = copy.deepcopy(timeline[0])
    size = len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode())
    monkeypatch.setattr(bounds, "MAX_ENTRY_BYTES", size - 1)
    found = problems(raw, authorities)
    assert set(found) == {""} and "bytes" in found[""], found


def test_an_authorities_file_with_a_repeated_key_is_refused(tmp_path: Any) -> None:
    from bdcert.errors import ConfigurationError

    require_shared()
    text = AUTHORITIES.read_text(encoding="utf-8").replace(
        '"djjg": "510100",', '"djjg": "510100", "djjg": "510199",', 1
    )
    assert text.count('"djjg"') == 4
    file = tmp_path / "authorities.json"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match="'djjg' more than once"):
        load_authorities(file)
