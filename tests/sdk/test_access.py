"""Access control for holders and sharing parties (rule articles 11, 14, 17): a holder reads and
looks up in full only their own certificates; everything else is masked or denied, and denials
are logged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bdcert.access import (
    authorize,
    holds,
    is_organisation,
    mask_id_number,
    mask_name,
    mask_text,
    redact,
)
from bdcert.codes import ZJZL
from bdcert.errors import PermissionDenied
from bdcert.lifecycle import Registry
from bdcert.model import Party, Principal
from bdcert_plugins.identity_local import LocalIdentityProvider

WANGS = "川(2024)成都市不动产权第0000001号"  # 王晓明 510104198503120176
ZHAOS = "川(2024)成都市不动产权第0000002号"  # 赵磊 510108199007070552


@pytest.fixture
def registry(workspace: Any, timeline: list[dict[str, Any]]) -> Iterator[Registry]:
    with Registry.open(workspace.path) as r:
        platform = r.authenticate({"operator": "platform"})
        r.push(timeline[0], principal=platform)
        r.push(timeline[2], principal=platform)
        yield r


def test_a_holder_reads_their_own_certificate_and_no_other(registry: Registry) -> None:
    wang = registry.authenticate({"operator": "holder-wang"})
    assert wang.id_number == "510104198503120176"
    assert registry.certificate(WANGS, principal=wang).holders[0].name == "王晓明"
    assert registry.pdf(WANGS, principal=wang).startswith(b"%PDF")
    with pytest.raises(PermissionDenied, match="not a holder"):
        registry.certificate(ZHAOS, principal=wang)
    with pytest.raises(PermissionDenied):
        registry.pdf(ZHAOS, principal=wang)
    auditor = registry.authenticate({"operator": "auditor"})
    denials = [e for e in registry.audit_log(principal=auditor) if e.action == "deny"]
    assert [(d.actor, d.subject, d.details["action"]) for d in denials] == [
        ("holder-wang", ZHAOS, "read"),
        ("holder-wang", ZHAOS, "read"),
    ]


def test_a_holder_looks_up_their_own_in_full_and_others_masked(registry: Registry) -> None:
    wang = registry.authenticate({"operator": "holder-wang"})
    own = registry.lookup(number=WANGS, principal=wang).certificate
    assert own is not None and own.face_value("qlr") == "王晓明"
    assert own.holders[0].id_number == "510104198503120176"
    # another's certificate by number: only with its 权利人's name, and masked
    assert registry.lookup(number=ZHAOS, principal=wang).code.value == "unknown_certificate"
    other = registry.lookup(number=ZHAOS, name="赵磊", principal=wang).certificate
    assert other is not None and other.face_value("qlr") == "赵*"
    assert other.holders[0].id_number == "5101**********0552"
    bank = registry.authenticate({"operator": "bank-shuchuan"})  # no agreement: no face at all
    seen = registry.lookup(number=WANGS, name="王晓明", principal=bank).certificate
    assert seen is not None and seen.face == () and seen.holders == ()


def test_verifying_a_file_shows_its_face_but_not_full_id_numbers(registry: Registry) -> None:
    platform = registry.authenticate({"operator": "platform"})
    pdf = registry.pdf(ZHAOS, principal=platform)
    anonymous = registry.verify(pdf).certificate
    assert anonymous is not None and anonymous.face_value("qlr") == "赵磊"  # printed on the file
    assert anonymous.holders[0].id_number == "5101**********0552"
    zhao = Principal("zhao", {"holder"}, id_number="510108199007070552")
    own = registry.verify(pdf, principal=zhao).certificate
    assert own is not None and own.holders[0].id_number == "510108199007070552"


def test_holders_match_in_canonical_form(registry: Registry) -> None:
    platform = registry.authenticate({"operator": "platform"})
    cert = registry.certificate(WANGS, principal=platform)
    upper = Principal("p", {"holder"}, id_number=" 11010519491231002x ")
    assert upper.id_number == "11010519491231002X"
    x_cert = attrs.evolve(cert, holders=(Party("郑小丽", "1", "11010519491231002x"),))
    assert holds(upper, x_cert)
    authorize(upper, "read", x_cert.authority_code, certificate=x_cert)
    assert redact(x_cert, upper) is x_cert
    nobody = Principal("q", {"holder"})  # a holder without an ID number holds nothing
    assert not holds(nobody, x_cert)
    with pytest.raises(PermissionDenied):
        authorize(nobody, "read", x_cert.authority_code, certificate=x_cert)
    with pytest.raises(PermissionDenied):  # without the certificate a holder may not read
        authorize(upper, "read", x_cert.authority_code)
    authorize(upper, "verify")


def test_local_operators_may_carry_an_id_number(tmp_path: Any) -> None:
    provider = LocalIdentityProvider.from_settings(
        {"operators": {"zheng": {"roles": ["holder"], "id_number": "11010519491231002x"}}},
        tmp_path,
    )
    assert provider.authenticate({"operator": "zheng"}).id_number == "11010519491231002X"


# ----------------------------------------------------------------------------- masking rules

#: Letters of the scripts names are written in: Han, Latin, Uyghur and Yi in their Han or Latin
#: transcription with the middle dot of 少数民族 names.
_HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
_LATIN = st.characters(min_codepoint=ord("A"), max_codepoint=ord("z")).filter(str.isalpha)
_PERSON_NAMES = st.one_of(
    st.text(_HAN, min_size=1, max_size=30),
    st.lists(st.text(_HAN, min_size=1, max_size=6), min_size=2, max_size=4).map("·".join),
    st.lists(st.text(_LATIN, min_size=1, max_size=12), min_size=1, max_size=4).map(" ".join),
).filter(lambda n: not is_organisation(n))
_PERSON_TYPES = st.sampled_from([*sorted(set(ZJZL) - {"6", "7"}), None, "111", "411", "516"])


def _revealed(masked: str) -> int:
    return sum(ch != "*" for ch in masked)


@settings(deadline=None)  # no timed assertion: the machine may be busy
@given(_PERSON_NAMES, _PERSON_TYPES)
def test_every_persons_name_is_masked_whatever_its_length_or_script(
    name: str, id_type: str | None
) -> None:
    masked = mask_name(name, id_type)
    assert masked != name and "*" in masked
    assert len(masked) == len(name)
    assert _revealed(masked) <= min(2, len(name) - 1)  # first and last at most, never all
    if len(name) >= 2:
        assert masked[0] == name[0]


def test_long_names_of_every_script_are_masked() -> None:
    """The review's cases: Yi (吉克阿依莫), Uyghur with ·, a foreign name in Latin script."""
    assert mask_name("吉克阿依莫") == "吉***莫"
    assert mask_name("阿卜杜拉·艾买提") == "阿******提"
    assert mask_name("迪丽热巴·迪力木拉提") == "迪********提"
    assert mask_name("MUHAMMAD ALI KHAN", "3") == "M***************N"
    assert mask_name("王") == "*"


def test_organisations_are_recognised_by_their_id_type_where_it_is_known() -> None:
    assert mask_name("锦城置业有限公司", "7") == "锦城置业有限公司"
    assert mask_name("Sichuan Green Farms", "6") == "Sichuan Green Farms"  # no keyword needed
    assert mask_name("公司街道张三", "1") == "公****三"  # a person, whatever the words
    assert mask_name("锦城置业有限公司", "99") == "锦城置业有限公司"  # 其它: the name decides
    assert mask_name("中国工商银行成都分行") == "中国工商银行成都分行"  # no type: the words


_ID_ALPHABET = st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXY")


@settings(deadline=None)
@given(st.text(_ID_ALPHABET, min_size=1, max_size=30), st.sampled_from([*sorted(ZJZL), None]))
def test_no_id_number_of_any_type_or_length_is_shown_in_full(
    number: str, id_type: str | None
) -> None:
    masked = mask_id_number(number, id_type)
    assert len(masked) == len(number)
    hidden = len(number) - _revealed(masked)
    assert hidden >= min(6, len(number)) and hidden * 2 > len(number)
    kept = masked.strip("*")
    assert "*" * hidden in masked  # one masked run: the kept ends are the number's ends
    assert number.startswith(masked.split("*", 1)[0]) and number.endswith(masked.rsplit("*")[-1])
    assert kept != number


def test_id_numbers_of_the_national_table_are_cut() -> None:
    assert mask_id_number("510104198503120176", "1") == "5101**********0176"  # 身份证
    assert mask_id_number("E12345678", "3") == "E******78"  # 护照, 9 characters
    assert mask_id_number("H1234567890", "2") == "H1*******90"  # 港澳居民来往内地通行证
    assert mask_id_number("军字第2001988号", "5") == "军字*******8号"  # 军官证
    assert mask_id_number("91510100MA61R9XX7Q", "7") == "9151**********XX7Q"  # 统一社会信用代码
    assert mask_id_number("MA61R9XX-7", "6") == "MA******-7"  # 组织机构代码
    assert mask_id_number("12345", "99") == "*****"


_BLANKS = st.sampled_from([" ", "\u3000", "\t", "  "])


@settings(deadline=None)
@given(st.text(_HAN, min_size=2, max_size=4), st.lists(_BLANKS, min_size=3, max_size=3))
def test_a_known_name_written_with_blanks_inside_is_masked(name: str, blanks: list[str]) -> None:
    """``李 雷`` is 李雷: the name is found after NFKC without whitespace and its whole span,
    blanks included, replaced by its mask. (A name that reads as an organisation's, such as
    分行, is kept whole by mask_name: nothing to find.)"""
    assume(mask_name(name) != name)
    spaced = "".join(ch + blanks[i % len(blanks)] for i, ch in enumerate(name)).rstrip()
    text = f"附记：联系{spaced}，电话见档案"
    masked = mask_text(text, {name: mask_name(name)})
    assert mask_name(name) in masked and spaced not in masked
    assert masked.startswith("附记：联系") and masked.endswith("，电话见档案")


def test_known_names_in_compatibility_forms_are_masked() -> None:
    names = {"李雷": "李*", "Wang Fang": "W*******g"}
    assert mask_text("承租人：李 雷。", names) == "承租人：李*。"
    assert mask_text("经\uf9e1雷确认", names) == "经李*确认"  # U+F9E1 CJK COMPATIBILITY 李
    assert mask_text("by Ｗａｎｇ　Ｆａｎｇ only", names) == "by W*******g only"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("联系人韩梅梅，电话见档案", "联系人韩*梅，电话见档案"),
        ("代理人 韩梅梅", "代理人 韩*梅"),
        ("委托人王小二。", "委托人王*二。"),
        # ordinary words after such a label are no name: untouched
        ("申请人主张对该房屋享有共有份额", "申请人主张对该房屋享有共有份额"),
        ("居住权期限：自登记之日起至权利人终身", "居住权期限：自登记之日起至权利人终身"),
        # a word saying what about the person follows (a new user saw 共有人姓*由 on the page)
        ("共有人姓名由“孙丽”更正为“孙俪”", "共有人姓名由“孙丽”更正为“孙俪”"),
        ("委托人身份证明已核验", "委托人身份证明已核验"),
    ],
)
def test_a_person_after_a_label_without_a_colon_is_masked(text: str, masked: str) -> None:
    assert mask_text(text, {}) == masked
