"""The interface plan's checks of GB/T 36906 信息验证 (P-110, F-111) and 文件验证 (P-112,
F-113)."""

from __future__ import annotations

from typing import Any

from bdcert_conformance.kit.model import Evidence, Verdict, check
from bdcert_conformance.plans.interface_common import NAME, memoized, verdict_of
from bdcert_conformance.plans.interface_session import (
    InterfaceSession,
    tampered,
)


def _codes(
    ctx: InterfaceSession, check: str, cases: list[tuple[str, Any, set[int]]]
) -> tuple[list[Evidence], list[str]]:
    """Ask ``POST /checks/{check}`` (``information``: fields; ``file``: PDF bytes) each case's
    input; every answer whose national ``code`` is not expected is a finding."""
    findings, seen = [], []
    for name, given, expected in cases:
        if check == "information":
            response = ctx.information(given, step=check)
        else:
            response = ctx.file_check(given, step=check)
        code = response.json().get("code") if response.status_code == 200 else None
        seen.append(f"{name} {code}")
        if code not in expected:
            findings.append(
                Evidence(
                    f"POST /checks/{check} ({name}): code",
                    " or ".join(map(str, sorted(expected))),
                    f"{response.status_code} {code}",
                    note=str(given) if check == "information" else "",
                )
            )
    return findings, seen


@check(
    "P-110",
    NAME,
    "信息验证 answers the national codes for genuine, superseded, cancelled "
    "and seized certificates",
    "GB/T 36906 信息验证; 规则第14条",
)
@memoized
def information_genuine(ctx: InterfaceSession) -> Verdict:
    """信息验证 with a certificate's number (``zh``) and holder (``qlr``): 0 (信息正确且有效)
    for one in force, 3 (已失效) for a superseded and for a cancelled one, 2 (暂时失效) for one
    under seizure."""
    ctx.everything()
    holder = ctx.holder["mc"]
    cases = [
        ("genuine", ctx.first_number("A"), 0),
        ("superseded", ctx.first_number("S1"), 3),
        ("cancelled", ctx.first_number("C1"), 3),
        ("seized", ctx.first_number("R1"), 2),
    ]
    findings, seen = _codes(
        ctx, "information", [(n, {"zh": z, "qlr": holder}, {c}) for n, z, c in cases]
    )
    return verdict_of(
        findings, "信息验证 answered the wrong national code", "信息验证: " + ", ".join(seen)
    )


@check(
    "F-111",
    NAME,
    "信息验证 refuses altered and unknown values (codes 6 and 5)",
    "GB/T 36906 信息验证; 规则第14条",
)
@memoized
def information_refused(ctx: InterfaceSession) -> Verdict:
    """信息验证 of a real number with another holder's name answers 6 (信息错误参数不一致);
    of a well-formed number never issued, 5 (查无此信息)."""
    number = ctx.first_number("A")
    cases = [
        ("altered qlr", {"zh": number, "qlr": ctx.holder["mc"] + "某"}, {6}),
        ("unknown zh", {"zh": ctx.unknown_number(), "qlr": ctx.holder["mc"]}, {5}),
    ]
    findings, seen = _codes(ctx, "information", cases)
    return verdict_of(
        findings,
        "信息验证 did not refuse altered or unknown values",
        "信息验证: " + ", ".join(seen),
    )


@check(
    "P-112",
    NAME,
    "文件验证 passes the files the system issued (code 0), superseded and cancelled ones included",
    "GB/T 36906 文件验证; 规则第14条",
)
@memoized
def file_genuine(ctx: InterfaceSession) -> Verdict:
    """文件验证 of a certificate PDF as issued answers 0 (文件验证通过), also when the certificate
    was superseded or cancelled since: the file is genuine, its status is 信息验证's question."""
    ctx.everything()
    cases = [
        (name, ctx.pdf(ctx.first_number(tag)), {0})
        for name, tag in (("genuine", "A"), ("superseded", "S1"), ("cancelled", "C1"))
    ]
    findings, seen = _codes(ctx, "file", cases)
    return verdict_of(
        findings, "文件验证 did not pass a genuine file", "文件验证: " + ", ".join(seen)
    )


@check(
    "F-113",
    NAME,
    "文件验证 refuses a tampered file and an unknown one (codes 1 or 2)",
    "GB/T 36906 文件验证; 规则第14条",
)
@memoized
def file_refused(ctx: InterfaceSession) -> Verdict:
    """文件验证 of a certificate PDF with one byte changed, and of a PDF the system never issued
    (unsealed), answers 1 (文件签章校验失败) or 2 (文件校验失败), never 0."""
    pdf = ctx.pdf(ctx.first_number("A"))
    unknown = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    cases = [("tampered", tampered(pdf), {1, 2}), ("unknown", unknown, {1, 2})]
    findings, seen = _codes(ctx, "file", cases)
    return verdict_of(
        findings, "文件验证 accepted a tampered or unknown file", "文件验证: " + ", ".join(seen)
    )
