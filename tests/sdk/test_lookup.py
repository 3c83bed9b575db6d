"""Verification for holders by QR token or certificate number (rule article 14): the register's
answer, with no more personal data than the asker may see."""

from __future__ import annotations

import itertools
import string
from datetime import datetime, timedelta
from typing import Any

import pytest

from bdcert.access import _mask_parties, mask_id_number, mask_name
from bdcert.config import LookupPolicy
from bdcert.errors import ConfigurationError, TooManyAttempts, ValidationError
from bdcert.lifecycle import Registry
from bdcert.model import CHINA_TZ
from tests.support import run_cli


class Clock:
    """A clock the test moves by hand (China time)."""

    def __init__(self) -> None:
        self.now = datetime(2024, 6, 1, 9, 0, tzinfo=CHINA_TZ)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def registry(workspace: Any, timeline: list[dict[str, Any]]) -> Any:
    with Registry.open(workspace.path) as r:
        platform = r.authenticate({"operator": "platform"})
        for raw in (
            timeline[0],
            timeline[2],
            timeline[13],
        ):  # 0000001, 0000002/3, 0000004 supersedes 1
            r.push(raw, principal=platform)
        yield r


def test_anonymous_lookup_by_token_masks_personal_data(registry: Any) -> None:
    platform = registry.authenticate({"operator": "platform"})
    cert = registry.certificate("川(2024)成都市不动产权第0000002号", principal=platform)
    verdict = registry.lookup(token=cert.token)
    assert verdict.code.value == "valid" and not verdict.trusted
    seen = verdict.certificate
    assert seen.number == cert.number
    assert seen.face_value("qlr") == "赵*"
    assert "赵磊" not in seen.face_value("gyqk") and "孙*" in seen.face_value("gyqk")
    assert seen.holders[0].id_number == "5101**********0552"
    assert seen.face_value("zl") == cert.face_value("zl")


def test_lookup_takes_the_whole_url_a_qr_scanner_returns(registry: Any) -> None:
    platform = registry.authenticate({"operator": "platform"})
    cert = registry.certificate("川(2024)成都市不动产权第0000002号", principal=platform)
    assert cert.verification_url.endswith("/" + cert.token)
    for asked in (cert.verification_url, f" {cert.verification_url}/?src=qr "):
        verdict = registry.lookup(token=asked)
        assert verdict.certificate is not None and verdict.certificate.number == cert.number
    other = cert.verification_url[: -len(cert.token)] + "not-a-token"
    assert registry.lookup(token=other).code.value == "unknown_certificate"


def test_lookup_by_number_names_the_successor_and_full_view_for_registrars(registry: Any) -> None:
    verdict = registry.lookup(number="川(2024)成都市不动产权第0000001号", name="王晓明")
    assert verdict.code.value == "superseded"
    assert "川(2024)成都市不动产权第0000004号" in verdict.detail
    clerk = registry.authenticate({"operator": "registrar-510100"})
    full = registry.lookup(number="川(2024)成都市不动产权第0000004号", principal=clerk)
    assert full.certificate.face_value("qlr") == "李红"


def test_lookup_by_number_folds_full_width_parentheses_and_blanks(registry: Any) -> None:
    """``川（2024）…`` as typed with a Chinese input method is the filed ``川(2024)…``, as
    ``download --paper-number`` accepts it (it was answered UNKNOWN_CERTIFICATE)."""
    for typed in ("川（2024）成都市不动产权第0000002号", " 川(2024)成都市不动产权第０００0002号 "):
        verdict = registry.lookup(number=typed, name="赵磊")
        assert verdict.code.value == "valid", (typed, verdict)
        assert verdict.certificate.number == "川(2024)成都市不动产权第0000002号"


def test_unknown_lookups_and_arguments(registry: Any) -> None:
    assert registry.lookup(token="no-such-token").code.value == "unknown_certificate"
    assert registry.lookup(
        number="川(2024)成都市不动产权第0999999号", name="王晓明"
    ).code.value == ("unknown_certificate")
    with pytest.raises(ValueError):
        registry.lookup()
    auditor = registry.authenticate({"operator": "auditor"})
    lookups = [e for e in registry.audit_log(principal=auditor) if e.action == "lookup"]
    assert [e.subject for e in lookups] == ["(unknown)", "(unknown)"]


def test_masking_rules() -> None:
    assert mask_name("王晓明") == "王*明" and mask_name("李红") == "李*"
    assert mask_name("锦城置业有限公司") == "锦城置业有限公司"
    assert mask_id_number("510104198503120176") == "5101**********0176"
    assert _mask_parties("单独所有") == "单独所有"
    assert _mask_parties("共同共有：陈建国、刘芳") == "共同共有：陈*国、刘*"
    assert _mask_parties("按份共有：赵磊占60%，何静占1/3") == "按份共有：赵*占60%，何*占1/3"


def test_lookup_command(registry: Any, workspace: Any) -> None:
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bdcert_adapters.cli",
            "lookup",
            "--number",
            "川(2024)成都市不动产权第0000004号",
            "--name",
            "李红",
            "--json",
            "--workspace",
            str(workspace.path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["verdict"] == "valid" and answer["certificate"]["face"]["qlr"] == "李*"


# ----------------------------------------------------------------------------- privacy (issue 9)


def _shown(verdict: Any) -> str:
    """Every text a verdict shows: its detail and every field of its certificate."""
    c = verdict.certificate
    texts = [verdict.detail]
    if c is not None:
        texts += [i.value for i in c.face] + [c.cancel_reason or ""]
        texts += [t for p in c.holders for t in (p.name, p.id_number)]
    return "\n".join(texts)


def _persons(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, ID number) of every person an entry names (organisations, 证件种类 6 and 7, not)."""
    parties = [*raw.get("qlr", []), *raw.get("ywr", [])]
    return [(p["mc"], p["zjh"]) for p in parties if p["zjzl"] not in ("6", "7")]


def test_public_lookups_mask_names_everywhere_free_text_included(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """附记 naming the co-owners (line 1), a correction naming the co-owner's former name
    (line 15: 孙丽 -> 孙俪), a mortgage proof naming its obligor (line 8): no person's full name
    or ID number is in any public answer, by token or by number."""
    lines = (0, 1, 2, 8, 15)
    with Registry.open(workspace.path) as r:
        platform = r.authenticate({"operator": "platform"})
        numbers = [n for i in lines for n in r.push(timeline[i], principal=platform).numbers]
        persons = {p for i in lines for p in _persons(timeline[i])}
        assert ("孙丽", "510108199201300622") in persons and (
            "王晓明",
            "510104198503120176",
        ) in persons
        certs = [r.certificate(number, principal=platform) for number in numbers]
        by_token = [r.lookup(token=cert.token) for cert in certs]
        by_number = (r.lookup(number=c.number, name=c.holders[0].name) for c in certs)
        for verdict in itertools.chain(by_token, by_number):  # by number after every token
            assert verdict.certificate is not None
            shown = _shown(verdict)
            for name, id_number in persons:
                assert name not in shown, (verdict.certificate.number, name, shown)
                assert id_number not in shown, (verdict.certificate.number, id_number)
        co_owned = r.certificate(numbers[1], principal=platform)
        assert co_owned.face_value("fj") == "共有人：陈建国、刘芳（共同共有）"
        assert r.lookup(token=co_owned.token).certificate.face_value("fj") == (
            "共有人：陈*国、刘*（共同共有）"
        )


def test_long_names_passports_and_numbers_in_free_text_are_masked(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    raw = dict(timeline[0])
    raw.update(
        ywh="510100-2024-009001",
        bdcdyh=["510104001001GB00002F00010001"],
        qlr=[
            {"mc": "阿卜杜拉·艾买提", "zjzl": "3", "zjh": "E12345678", "qlbl": "50%"},
            {"mc": "MUHAMMAD ALI KHAN", "zjzl": "3", "zjh": "K98765432", "qlbl": "50%"},
        ],
        gyfs="2",
        czfs="共同持证",
        fj="委托代理人：吉克阿依莫，电话13812345678；护照E12345678；原权利人：欧阳娜娜",
    )
    with Registry.open(workspace.path) as r:
        platform = r.authenticate({"operator": "platform"})
        number = r.push(raw, principal=platform).numbers[0]
        cert = r.certificate(number, principal=platform)
        shown = _shown(r.lookup(token=cert.token))
    for secret in (
        "阿卜杜拉·艾买提",
        "MUHAMMAD ALI KHAN",
        "E12345678",
        "K98765432",
        "吉克阿依莫",
        "13812345678",
        "欧阳娜娜",
    ):
        assert secret not in shown, (secret, shown)
    assert "阿******提" in shown and "M***************N" in shown and "E******78" in shown


def test_the_register_cannot_be_walked_by_number(registry: Any) -> None:
    """By number, whoever may not see the certificate in full must also name one of its
    权利人; a wrong name is answered exactly as a number nobody holds."""
    with pytest.raises(ValidationError) as caught:
        registry.lookup(number="川(2024)成都市不动产权第0000002号")
    assert caught.value.fields == ("name",)
    wrong = registry.lookup(number="川(2024)成都市不动产权第0000002号", name="王晓明")
    absent = registry.lookup(number="川(2024)成都市不动产权第0999999号", name="赵磊")
    assert wrong.code.value == absent.code.value == "unknown_certificate"
    assert wrong.detail == absent.detail and wrong.certificate is None
    right = registry.lookup(number="川(2024)成都市不动产权第0000002号", name=" 赵磊 ")
    assert right.code.value == "valid" and right.certificate.face_value("qlr") == "赵*"
    holder = registry.authenticate({"operator": "holder-wang"})  # authenticated, not its holder
    assert registry.lookup(
        number="川(2024)成都市不动产权第0000002号", principal=holder
    ).code.value == ("unknown_certificate")


def test_qr_tokens_are_unguessable(
    workspace: Any, timeline: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token path stays open to anyone: its token comes from the operating system's CSPRNG
    (``secrets``), 24 bytes (192 bits), and no two certificates share one."""
    import secrets

    made: list[tuple[int, str]] = []
    real = secrets.token_urlsafe

    def recording(nbytes: int | None = None) -> str:
        token = real(nbytes)
        made.append((nbytes or 0, token))
        return token

    monkeypatch.setattr(secrets, "token_urlsafe", recording)
    with Registry.open(workspace.path) as r:
        platform = r.authenticate({"operator": "platform"})
        numbers = [n for i in (0, 1, 2) for n in r.push(timeline[i], principal=platform).numbers]
        tokens = [r.certificate(n, principal=platform).token for n in numbers]
    assert len(set(tokens)) == len(tokens) == 4
    by_token = dict((t, n) for n, t in made)
    for token in tokens:
        assert by_token.get(token, 0) >= 24, token  # drawn from secrets with 192 bits
        assert len(token) >= 32 and set(token) <= set(string.ascii_letters + string.digits + "-_")


def test_a_qr_token_never_starts_with_a_dash(
    workspace: Any, timeline: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token drawn with a leading ``-`` is drawn again: ``bdcert lookup --token -x…`` is read
    as an option by the command line (a CI run drew ``-rJjp…`` and the lookup failed)."""
    import secrets

    real = secrets.token_urlsafe
    drawn: list[str] = []

    def dash_first(nbytes: int | None = None) -> str:
        token = real(nbytes)
        token = "-" + token[1:] if not drawn else token
        drawn.append(token)
        return token

    monkeypatch.setattr(secrets, "token_urlsafe", dash_first)
    with Registry.open(workspace.path) as r:
        platform = r.authenticate({"operator": "platform"})
        (number,) = r.push(timeline[0], principal=platform).numbers
        token = r.certificate(number, principal=platform).token
    assert drawn[0].startswith("-") and token != drawn[0]
    assert not token.startswith("-")
    done = run_cli(workspace, "lookup", "--token", token, "--json")
    assert done.returncode == 0, done.stderr


def test_lookups_are_limited_per_client_in_the_register(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """``[lookup] max_lookups`` within ``window_minutes`` per client, counted in storage: a
    second registry (another process) sees the same count; other clients and the platform are
    not held back; the window's end frees the client."""
    with (workspace.path / "bdcert.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[lookup]\nmax_lookups = 3\nwindow_minutes = 10\n")
    clock = Clock()
    with Registry.open(workspace.path, clock=clock) as r:
        platform = r.authenticate({"operator": "platform"})
        number = r.push(timeline[0], principal=platform).numbers[0]
        token = r.certificate(number, principal=platform).token
        for _ in range(3):
            assert r.lookup(token=token).code.value == "valid"
        with pytest.raises(TooManyAttempts) as caught:
            r.lookup(token=token)
        assert "too many lookups" in str(caught.value)
        # it names the settings, and who is limited how (true of the code: platform and
        # auditor unlimited, any other operator counted under its own name)
        for words in ("[lookup] max_lookups", "window_minutes", "platform and auditors"):
            assert words in str(caught.value)
        clerk = r.authenticate({"operator": "registrar-510100"})
        assert r.lookup(token=token, principal=clerk).code.value == "valid"
        assert caught.value.locked_until == clock.now + timedelta(minutes=10)
        assert r.lookup(token=token, client="203.0.113.7").code.value == "valid"
        for _ in range(5):
            r.lookup(token=token, principal=platform)
    with Registry.open(workspace.path, clock=clock) as again:  # another process, same register
        with pytest.raises(TooManyAttempts):
            again.lookup(token="anything")
        clock.now += timedelta(minutes=10, seconds=1)
        assert again.lookup(token=token).code.value == "valid"
        auditor = again.authenticate({"operator": "auditor"})
        outcomes = [
            e.details.get("outcome")
            for e in again.audit_log(principal=auditor)
            if e.action == "lookup" and e.actor == "anonymous"
        ]
    assert outcomes == [None, None, None, "limited", None, "limited", None]


def test_the_lookup_limit_is_configured_and_checked() -> None:
    assert LookupPolicy.from_settings({}) == LookupPolicy(30, timedelta(minutes=10))
    with pytest.raises(ConfigurationError) as caught:
        LookupPolicy.from_settings({"max_lookups": 0, "window_minutes": "5", "rate": 1})
    for key in ("max_lookups", "window_minutes", "rate"):
        assert f"lookup.{key}" in str(caught.value)


def test_a_cancellation_reason_naming_a_person_is_masked_in_the_verdict(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """The verdict's detail and the certificate's cancel reason are free text too."""
    cancel = dict(timeline[18], zxyy="抵押人王晓明已清偿，身份证510104198503120176")
    with Registry.open(workspace.path) as r:
        platform = r.authenticate({"operator": "platform"})
        r.push(timeline[0], principal=platform)  # 王晓明's certificate
        (proof,) = r.push(timeline[8], principal=platform).numbers  # the bank's mortgage on it
        r.push(cancel, principal=platform)
        cert = r.certificate(proof, principal=platform)
        assert cert.status.value == "cancelled" and "王晓明" in (cert.cancel_reason or "")
        public = r.lookup(token=cert.token)
        assert public.code.value == "cancelled"
        assert "王晓明" not in _shown(public) and "510104198503120176" not in _shown(public)
        assert "王*明" in public.detail
        assert "王晓明" in r.lookup(token=cert.token, principal=platform).detail
        verified = r.verify(r.pdf(proof, principal=platform))  # the file's path: same rule
        assert verified.code.value == "cancelled" and "王*明" in verified.detail
        assert "王晓明" not in verified.detail + (verified.certificate.cancel_reason or "")
