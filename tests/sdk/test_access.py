"""Access control for holders and sharing parties (rule articles 11, 14, 17): a holder reads and
looks up in full only their own certificates; everything else is masked or denied, and denials
are logged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from bdcert.access import authorize, holds, redact
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
    other = registry.lookup(number=ZHAOS, principal=wang).certificate
    assert other is not None and other.face_value("qlr") == "赵*"
    assert other.holders[0].id_number == "5101**********0552"
    bank = registry.authenticate({"operator": "bank-shuchuan"})
    seen = registry.lookup(number=WANGS, principal=bank).certificate
    assert seen is not None and seen.face_value("qlr") == "王*明"


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
