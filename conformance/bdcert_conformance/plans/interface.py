"""The interface plan: a system's HTTP service behaves like the provincial interface (rule
articles 5–7, 10, 12, 14; GB/T 36906 信息验证 / 文件验证; the OpenAPI document the system
publishes at ``{target}/api/v1/openapi.json``).

Options read:

- ``--target URL``: the system under test (its base URL; the operations are under
  ``/api/v1``).
- ``--province URL``: the provincial service that takes deposits (归集, ``POST
  /api/v1/collection``).
- ``--token ROLE=TOKEN``: ``clerk`` — a registrar (登记机构 clerk) of the target's authority:
  pushes entries, reads its certificates, the feed, 信息验证 / 文件验证; ``other_clerk`` — a
  registrar of another authority on the target (must be refused on the clerk's certificates
  and entries); ``province`` — a caller allowed to deposit the authority's certificates at the
  province (a registrar of the same authority there, or the platform).
- ``--set KEY=VALUE`` settings, all optional: ``authority`` (登记机构 code; default the
  clerk's, from ``GET /api/v1/whoami``), ``county`` (the 6-digit county code of the run's unit
  numbers; default the authority's code with ``04`` for a trailing ``00``), ``run_id`` (part of
  every 业务号; default the time and a random suffix), ``max_request_bytes`` (the target's limit
  of one JSON body, default 1048576: the oversize entry is one byte longer), ``api_prefix``
  (default ``/api/v1``), ``timeout`` (seconds per request, default 120).

Each run pushes fresh entries for the authority (业务号 ``{djjg}-KIT-{run}-{tag}``, random unit
numbers dated now), so the plan can be run again against a long-lived system; it leaves them
there (about ten certificates, one cancelled, one superseded, one under seizure).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bdcert_conformance.kit.model import Evidence, RunOptions, Verdict, check, failed, passed
from bdcert_conformance.plans.interface_reference import reference_environment, reference_run
from bdcert_conformance.plans.interface_schema import schema_findings
from bdcert_conformance.plans.interface_session import (
    InterfaceSession,
    Pushed,
    cert_path,
    tampered,
)

__all__ = [
    "BROKEN",
    "NAME",
    "open_context",
    "problems",
    "reference_environment",
    "reference_run",
]

NAME = "interface"
PROPERTY = "property_certificate"
PROOF = "registration_proof"
ROLES = ("clerk", "other_clerk", "province")


def problems(options: RunOptions) -> list[str]:
    """Every missing option: ``--target``, ``--province``, the tokens of :data:`ROLES`."""
    out = []
    if not options.target:
        out.append("--target URL is required (the system under test)")
    if not options.province:
        out.append("--province URL is required (the provincial service taking deposits)")
    for role in ROLES:
        if role not in options.tokens:
            out.append(f"--token {role}=TOKEN is required")
    return out


@contextlib.contextmanager
def open_context(options: RunOptions, workdir: Path) -> Iterator[InterfaceSession]:
    """A session with the target and the province (closed at the end)."""
    session = InterfaceSession(options)
    try:
        yield session
    finally:
        session.close()


def _memo(func: Callable[[InterfaceSession], Verdict]) -> Callable[[InterfaceSession], Verdict]:
    """A check's verdict computed once per session (the schema check runs every check first)."""

    def run(ctx: InterfaceSession) -> Verdict:
        return ctx.once(f"verdict:{func.__name__}", lambda: func(ctx))

    run.__name__ = func.__name__
    run.__qualname__ = func.__qualname__
    run.__doc__ = func.__doc__
    run.__module__ = func.__module__
    return run


def _status(op: str, expected: int | str, response_status: int, body: Any = None) -> Evidence:
    return Evidence(op, str(expected), str(response_status), note=_brief(body))


def _brief(body: Any) -> str:
    text = str(body) if body is not None else ""
    return text[:300]


def _push_op(pushed: Pushed) -> str:
    return f"POST /entries {pushed.ywh}"


@check("P-101", NAME, "A pushed entry is accepted: 201, Location, the certificate kind per "
       "article 5/6", "规则第5条、第6条、第7条")  # fmt: skip
@_memo
def push_accepted(ctx: InterfaceSession) -> Verdict:
    """A valid registration-book entry pushed after 登簿 is accepted with 201, a ``Location``
    that leads to the new certificate's metadata, and the kind the rule assigns: a property
    right (国有建设用地使用权/房屋所有权) gives a 不动产权证书 (``property_certificate``, article 5),
    a 抵押权 gives a 不动产登记证明 (``registration_proof``, article 6)."""
    findings: list[Evidence] = []
    compared = 0
    for pushed, kind, word in ((ctx.issued("A"), PROPERTY, "不动产权"),
                               (ctx.proof(), PROOF, "不动产证明")):  # fmt: skip
        op = _push_op(pushed)
        if pushed.status != 201:
            findings.append(_status(op, 201, pushed.status, pushed.body))
            continue
        body = pushed.body if isinstance(pushed.body, dict) else {}
        if body.get("kind") != kind:
            findings.append(Evidence(f"{op}: kind", kind, str(body.get("kind"))))
        if not pushed.numbers:
            findings.append(Evidence(f"{op}: numbers", "one certificate number", "none"))
            continue
        if not all(word in n for n in pushed.numbers):
            findings.append(Evidence(f"{op}: number", f"a number with {word}",
                                     ", ".join(pushed.numbers)))  # fmt: skip
        location = pushed.headers.get("location")
        if not location:
            findings.append(Evidence(f"{op}: Location", "the certificate's URL", None))
        else:
            response = ctx.call("clerk", "GET", location, step="location", absolute=True)
            number = response.json().get("number") if response.status_code == 200 else None
            if number != pushed.numbers[0]:
                findings.append(Evidence(f"GET {location}", pushed.numbers[0],
                                         f"{response.status_code} {number}"))  # fmt: skip
        compared += 1
    if findings:
        return failed("a valid entry was not accepted as the rules require", findings)
    return passed(f"{compared} entries (a property right, a 抵押权) answered 201 with Location "
                  "and the kind of article 5/6")  # fmt: skip


def _issues_of(events: list[dict[str, Any]], ywh: str) -> list[str]:
    return [str(e.get("number")) for e in events
            if e.get("kind") == "issued" and e.get("business_number") == ywh]  # fmt: skip


@check("P-102", NAME, "The same entry pushed again answers 200 with the same numbers, issuing "
       "nothing", "规则第7条（推送幂等）")  # fmt: skip
@_memo
def replay(ctx: InterfaceSession) -> Verdict:
    """A push repeated after a lost answer must not issue a second certificate: the same
    entry again answers 200 with the first push's numbers, and the change feed shows one issue
    per number for that 业务号."""
    first, again = ctx.issued("A"), ctx.replay()
    findings = []
    if again.status != 200:
        findings.append(_status(_push_op(again) + " (again)", 200, again.status, again.body))
    if again.numbers != first.numbers:
        findings.append(Evidence(f"{_push_op(again)} (again): numbers", ", ".join(first.numbers),
                                 ", ".join(again.numbers)))  # fmt: skip
    issued = _issues_of(ctx.feed_events(), first.ywh)
    if sorted(issued) != sorted(first.numbers):
        findings.append(Evidence(f"GET /feed: issues of {first.ywh}", ", ".join(first.numbers),
                                 ", ".join(issued)))  # fmt: skip
    if findings:
        return failed("a replayed entry was not answered with its first result", findings)
    return passed(f"{first.ywh} pushed twice: 200, the same {len(first.numbers)} number(s), "
                  f"{len(issued)} issue event(s) in the feed")  # fmt: skip


@check("F-103", NAME, "The same 业务号 with other content is refused: 409 naming the fields",
       "规则第7条（推送幂等）; RFC 9457")  # fmt: skip
@_memo
def conflict(ctx: InterfaceSession) -> Verdict:
    """An entry whose 业务号 was pushed before with other content is a conflict, not a
    correction: 409 with a problem document naming the fields (``errors[].field``), the first
    certificate unchanged and in force, nothing issued."""
    first, other = ctx.issued("A"), ctx.conflict()
    findings = []
    op = _push_op(other) + " (other zl)"
    if other.status != 409:
        findings.append(_status(op, 409, other.status, other.body))
    errors = other.body.get("errors") if isinstance(other.body, dict) else None
    fields = [str(e.get("field")) for e in errors or [] if isinstance(e, dict)]
    if other.status == 409 and not fields:
        findings.append(Evidence(f"{op}: errors[].field", "the conflicting fields", "none"))
    number = first.numbers[0] if first.numbers else None
    if number:
        meta = ctx.metadata(number, step="conflict")
        zl = {f.get("key"): f.get("value") for f in meta.get("face", [])}.get("zl")
        if zl != first.entry["zl"] or meta.get("status") != "valid":
            findings.append(Evidence(f"GET /certificates/{number}", f"{first.entry['zl']} valid",
                                     f"{zl} {meta.get('status')}"))  # fmt: skip
    issued = _issues_of(ctx.feed_events(), first.ywh)
    if sorted(issued) != sorted(first.numbers):
        findings.append(Evidence(f"GET /feed: issues of {first.ywh}", ", ".join(first.numbers),
                                 ", ".join(issued)))  # fmt: skip
    if findings:
        return failed("a conflicting push was not refused as a conflict", findings)
    return passed(f"{first.ywh} with another 坐落: 409 naming {', '.join(fields)}; the first "
                  "certificate unchanged, nothing issued")  # fmt: skip


@check("P-104", NAME, "A certificate the city sealed is deposited (归集) at the province",
       "规则第7条第二款")  # fmt: skip
@_memo
def deposit_accepted(ctx: InterfaceSession) -> Verdict:
    """The city's own certificate (entry A's, its PDF downloaded from the target) deposited at
    the province with its metadata (number, 电子证照标识, kind, QR token, entry, issue time) is
    accepted (201) and then in the provincial library, in force."""
    body, response = ctx.deposit()
    number = body["number"]
    findings = []
    if response.status_code != 201:
        findings.append(_status("POST /collection (province)", 201, response.status_code,
                                response.text))  # fmt: skip
    else:
        r = ctx.call("province", "GET", cert_path(number, "/status"), step="deposit",
                     province=True)  # fmt: skip
        status = r.json().get("status") if r.status_code == 200 else None
        if status != "valid":
            findings.append(Evidence(f"GET /certificates/{number}/status (province)",
                                     "200 valid", f"{r.status_code} {status}"))  # fmt: skip
    if findings:
        return failed("the province did not take the city's certificate", findings)
    return passed(f"{number} deposited at the province (201) and in force there")


@check("F-105", NAME, "The province refuses a deposit that does not conform, with reasons",
       "规则第7条第二款")  # fmt: skip
@_memo
def deposit_refused(ctx: InterfaceSession) -> Verdict:
    """A deposit whose PDF was changed after sealing (one byte) is refused with 400 and the
    reasons (``errors``), and nothing is filed: the province does not know the number after."""
    body, response = ctx.deposit_tampered()
    number = body["number"]
    findings = []
    errors = response.json().get("errors") if response.status_code == 400 else None
    if response.status_code != 400:
        findings.append(_status("POST /collection (tampered PDF)", 400, response.status_code,
                                response.text))  # fmt: skip
    elif not errors:
        findings.append(Evidence("POST /collection: errors", "the reasons", "none"))
    r = ctx.call("province", "GET", cert_path(number, "/status"), step="deposit-tampered",
                 province=True)  # fmt: skip
    if r.status_code != 404:
        findings.append(Evidence(f"GET /certificates/{number}/status (province)",
                                 "404 (nothing filed)", str(r.status_code)))  # fmt: skip
    if findings:
        return failed("the province did not refuse a tampered deposit", findings)
    reasons = "; ".join(str(e.get("message", e)) for e in errors or [])
    return passed(f"{number} with one byte changed: 400 ({reasons[:200]}); nothing filed")


def _expect_status(ctx: InterfaceSession, number: str, expected: dict[str, Any],
                   step: str) -> list[Evidence]:  # fmt: skip
    code, body = ctx.status(number, step=step)
    if code != 200:
        return [Evidence(f"GET /certificates/{number}/status", "200", str(code))]
    out = []
    for key, value in expected.items():
        found = body.get(key)
        ok = value(found) if callable(value) else found == value
        if not ok:
            want = getattr(value, "__doc__", None) if callable(value) else value
            out.append(Evidence(f"GET /certificates/{number}/status: {key}", str(want),
                                str(found)))  # fmt: skip
    return out


@check("P-106", NAME, "Supersession: the old certificate shows superseded, the new in force",
       "规则第10条")  # fmt: skip
@_memo
def supersession(ctx: InterfaceSession) -> Verdict:
    """A new registration of the same unit (转移登记 naming the old certificate in ``yzh``)
    issues a new certificate (201); the old one's status is then ``superseded`` naming the new
    one, and the new one is ``valid``."""
    s1, s2 = ctx.supersession()
    findings = []
    if s2.status != 201 or not s2.numbers:
        findings.append(_status(_push_op(s2), 201, s2.status, s2.body))
        return failed("the new registration was not issued", findings)
    old, new = s1.numbers[0], s2.numbers[0]

    def names_new(found: Any) -> bool:
        return isinstance(found, list) and new in found

    names_new.__doc__ = f"[{new}]"
    findings += _expect_status(ctx, old, {"code": "superseded", "status": "superseded",
                                          "superseded_by": names_new}, "S2")  # fmt: skip
    findings += _expect_status(ctx, new, {"code": "valid", "status": "valid"}, "S2")
    if findings:
        return failed("the statuses after a supersession are wrong", findings)
    return passed(f"{old} superseded by {new}; {new} in force")


@check("P-107", NAME, "Cancellation (注销): the certificate shows cancelled, nothing issued",
       "规则第10条")  # fmt: skip
@_memo
def cancellation(ctx: InterfaceSession) -> Verdict:
    """A 注销登记 (djlx 400) naming the certificate is accepted without issuing anything (200,
    no numbers); the certificate's status is then ``cancelled`` with the reason."""
    c1, c2 = ctx.cancellation()
    findings = []
    if c2.status != 200 or c2.numbers:
        findings.append(Evidence(_push_op(c2), "200, no numbers",
                                 f"{c2.status}, {c2.numbers}", note=_brief(c2.body)))  # fmt: skip
    findings += _expect_status(ctx, c1.numbers[0], {"code": "cancelled", "status": "cancelled",
                                                    "cancel_reason": c2.entry["zxyy"]}, "C2")  # fmt: skip
    if findings:
        return failed("the cancellation did not show as the rules require", findings)
    return passed(f"{c1.numbers[0]} cancelled (房屋灭失); the 注销 issued nothing")


@check("P-108", NAME, "Seizure (查封): the certificate shows restricted, still valid",
       "规则第10条、第14条")  # fmt: skip
@_memo
def seizure(ctx: InterfaceSession) -> Verdict:
    """A 查封登记 (djlx 800) of the unit issues nothing (200, no numbers); the certificate stays
    ``valid`` and shows ``restricted`` (code ``restricted``)."""
    r1, r2 = ctx.seizure()
    findings = []
    if r2.status != 200 or r2.numbers:
        findings.append(Evidence(_push_op(r2), "200, no numbers",
                                 f"{r2.status}, {r2.numbers}", note=_brief(r2.body)))  # fmt: skip
    findings += _expect_status(ctx, r1.numbers[0], {"code": "restricted", "status": "valid",
                                                    "restricted": True}, "R2")  # fmt: skip
    if findings:
        return failed("the seizure did not show as the rules require", findings)
    return passed(f"{r1.numbers[0]} restricted under the seizure, still valid")


def _expected_changes(ctx: InterfaceSession) -> list[list[tuple[str, str]]]:
    """The feed events each push of the run must give, in push order: [(kind, number)]."""
    a, p = ctx.issued("A"), ctx.proof()
    s1, s2 = ctx.supersession()
    c1, _ = ctx.cancellation()
    r1, _ = ctx.seizure()
    return [
        [("issued", n) for n in a.numbers],
        [("issued", n) for n in p.numbers],
        [("issued", n) for n in s1.numbers],
        [("issued", n) for n in s2.numbers] + [("superseded", n) for n in s1.numbers],
        [("issued", n) for n in c1.numbers],
        [("cancelled", n) for n in c1.numbers],
        [("issued", n) for n in r1.numbers],
        [("restricted", n) for n in r1.numbers],
    ]


@check("P-109", NAME, "The change feed has every change of the run, in order; its cursor works",
       "规则第12条")  # fmt: skip
@_memo
def feed(ctx: InterfaceSession) -> Verdict:
    """Every issue, supersession, cancellation and seizure the run made appears in the change
    feed exactly once, in the order they happened; reading it page by page (3 events a page,
    following ``next``) gives the same events as reading it whole."""
    ctx.everything()
    groups = _expected_changes(ctx)
    position = {change: i for i, group in enumerate(groups) for change in group}
    events = ctx.feed_events()
    ours = [(str(e.get("kind")), str(e.get("number"))) for e in events
            if (str(e.get("kind")), str(e.get("number"))) in position]  # fmt: skip
    findings = []
    for change in position:
        count = ours.count(change)
        if count != 1:
            findings.append(Evidence(f"GET /feed: {change[0]} {change[1]}", "once",
                                     f"{count} times"))  # fmt: skip
    for before, after in itertools.pairwise(ours):
        if position[after] < position[before]:
            findings.append(Evidence("GET /feed: order", f"{before[0]} {before[1]} after "
                                     f"{after[0]} {after[1]}",
                                     f"{after[0]} {after[1]} after {before[0]} {before[1]}"))  # fmt: skip
    paged = ctx.feed_events(limit=3, step="feed-paged")
    whole = [e.get("cursor") for e in events]
    if [e.get("cursor") for e in paged] != whole:
        findings.append(Evidence("GET /feed?limit=3 (following next)",
                                 f"{len(whole)} events as read whole",
                                 f"{len(paged)} events, other cursors"))  # fmt: skip
    if findings:
        return failed("the change feed is incomplete or out of order", findings)
    return passed(f"{len(position)} changes of the run in the feed once each, in order; "
                  f"{len(events)} events read whole and 3 a page alike")  # fmt: skip


def _codes(ctx: InterfaceSession, cases: list[tuple[str, dict[str, str], int]],
           step: str) -> tuple[list[Evidence], list[str]]:  # fmt: skip
    findings, seen = [], []
    for name, fields, expected in cases:
        response = ctx.information(fields, step=step)
        code = response.json().get("code") if response.status_code == 200 else None
        seen.append(f"{name} {code}")
        if code != expected:
            findings.append(Evidence(f"POST /checks/information ({name}): code", str(expected),
                                     f"{response.status_code} {code}", note=str(fields)))  # fmt: skip
    return findings, seen


@check("P-110", NAME, "信息验证 answers the national codes for genuine, superseded, cancelled "
       "and seized certificates", "GB/T 36906 信息验证; 规则第14条")  # fmt: skip
@_memo
def information_genuine(ctx: InterfaceSession) -> Verdict:
    """信息验证 with a certificate's number (``zh``) and holder (``qlr``): 0 (信息正确且有效)
    for one in force, 3 (已失效) for a superseded and for a cancelled one, 2 (暂时失效) for one
    under seizure."""
    ctx.everything()
    holder = "王晓明"
    cases = [("genuine", ctx.first_number("A"), 0), ("superseded", ctx.first_number("S1"), 3),
             ("cancelled", ctx.first_number("C1"), 3), ("seized", ctx.first_number("R1"), 2)]  # fmt: skip
    findings, seen = _codes(ctx, [(n, {"zh": z, "qlr": holder}, c) for n, z, c in cases],
                            "information")  # fmt: skip
    if findings:
        return failed("信息验证 answered the wrong national code", findings)
    return passed("信息验证: " + ", ".join(seen))


@check("F-111", NAME, "信息验证 refuses altered and unknown values (codes 6 and 5)",
       "GB/T 36906 信息验证; 规则第14条")  # fmt: skip
@_memo
def information_refused(ctx: InterfaceSession) -> Verdict:
    """信息验证 of a real number with another holder's name answers 6 (信息错误参数不一致);
    of a well-formed number never issued, 5 (查无此信息)."""
    number = ctx.first_number("A")
    cases = [("altered qlr", {"zh": number, "qlr": "王晓"}, 6),
             ("unknown zh", {"zh": ctx.unknown_number(), "qlr": "王晓明"}, 5)]  # fmt: skip
    findings, seen = _codes(ctx, cases, "information")
    if findings:
        return failed("信息验证 did not refuse altered or unknown values", findings)
    return passed("信息验证: " + ", ".join(seen))


def _file_codes(ctx: InterfaceSession, cases: list[tuple[str, bytes, set[int]]],
                step: str) -> tuple[list[Evidence], list[str]]:  # fmt: skip
    findings, seen = [], []
    for name, data, expected in cases:
        response = ctx.file_check(data, step=step)
        code = response.json().get("code") if response.status_code == 200 else None
        seen.append(f"{name} {code}")
        if code not in expected:
            findings.append(Evidence(f"POST /checks/file ({name}): code",
                                     " or ".join(map(str, sorted(expected))),
                                     f"{response.status_code} {code}"))  # fmt: skip
    return findings, seen


@check("P-112", NAME, "文件验证 passes the files the system issued (code 0), superseded and "
       "cancelled ones included", "GB/T 36906 文件验证; 规则第14条")  # fmt: skip
@_memo
def file_genuine(ctx: InterfaceSession) -> Verdict:
    """文件验证 of a certificate PDF as issued answers 0 (文件验证通过), also when the certificate
    was superseded or cancelled since: the file is genuine, its status is 信息验证's question."""
    ctx.everything()
    cases = [(name, ctx.pdf(ctx.first_number(tag)), {0})
             for name, tag in (("genuine", "A"), ("superseded", "S1"), ("cancelled", "C1"))]  # fmt: skip
    findings, seen = _file_codes(ctx, cases, "file")
    if findings:
        return failed("文件验证 did not pass a genuine file", findings)
    return passed("文件验证: " + ", ".join(seen))


@check("F-113", NAME, "文件验证 refuses a tampered file and an unknown one (codes 1 or 2)",
       "GB/T 36906 文件验证; 规则第14条")  # fmt: skip
@_memo
def file_refused(ctx: InterfaceSession) -> Verdict:
    """文件验证 of a certificate PDF with one byte changed, and of a PDF the system never issued
    (unsealed), answers 1 (文件签章校验失败) or 2 (文件校验失败), never 0."""
    pdf = ctx.pdf(ctx.first_number("A"))
    unknown = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    cases = [("tampered", tampered(pdf), {1, 2}), ("unknown", unknown, {1, 2})]
    findings, seen = _file_codes(ctx, cases, "file")
    if findings:
        return failed("文件验证 accepted a tampered or unknown file", findings)
    return passed("文件验证: " + ", ".join(seen))


@check("F-114", NAME, "A clerk of another authority is refused on this authority's certificates "
       "and entries", "规则第7条、第17条")  # fmt: skip
@_memo
def other_authority(ctx: InterfaceSession) -> Verdict:
    """A registrar of another authority reading this authority's certificate (metadata, PDF,
    status), its feed, or pushing an entry for it is refused (403), and the refused push stored
    nothing (the clerk's own push of that entry afterwards issues it: 201)."""
    number = ctx.first_number("A")
    findings = []
    reads = ("", "/pdf", "/status")
    for suffix in reads:
        r = ctx.call("other_clerk", "GET", cert_path(number, suffix), step="other")
        if r.status_code != 403:
            findings.append(Evidence(f"GET /certificates/{number}{suffix} (other_clerk)", "403",
                                     str(r.status_code)))  # fmt: skip
    r = ctx.call("other_clerk", "GET", "/feed", step="other",
                 params={"authority": ctx.authority, "limit": 1})  # fmt: skip
    if r.status_code != 403:
        findings.append(Evidence(f"GET /feed?authority={ctx.authority} (other_clerk)", "403",
                                 str(r.status_code)))  # fmt: skip
    entry = ctx.property_entry("X")
    pushed = ctx.push(entry, step="other", role="other_clerk")
    if pushed.status != 403:
        findings.append(_status(_push_op(pushed) + " (other_clerk)", 403, pushed.status,
                                pushed.body))  # fmt: skip
    after = ctx.push(entry, step="other")
    if after.status != 201:
        findings.append(Evidence(f"{_push_op(after)} (clerk, after)", "201 (nothing stored "
                                 "before)", str(after.status), note=_brief(after.body)))  # fmt: skip
    if findings:
        return failed("a clerk of another authority was not refused", findings)
    return passed(f"other_clerk refused (403) on {len(reads)} reads, the feed and a push; the "
                  "refused push stored nothing")  # fmt: skip


def _nothing_stored(ctx: InterfaceSession, entry: dict[str, Any], what: str) -> list[Evidence]:
    """Push the valid ``entry`` whose 业务号 a refused input used: 201 proves nothing was stored
    under it."""
    after = ctx.push(entry, step=what)
    if after.status == 201:
        return []
    return [Evidence(f"{_push_op(after)} (valid, after the refused {what})",
                     "201 (nothing stored by the refused input)", str(after.status),
                     note=_brief(after.body))]  # fmt: skip


@check("F-115", NAME, "Malformed input is refused (400 naming the field) and nothing is stored",
       "规则第7条; RFC 9457")  # fmt: skip
@_memo
def malformed(ctx: InterfaceSession) -> Verdict:
    """A body that is not JSON, a JSON array, and an entry with a malformed 不动产单元号 are
    refused with 400 (the entry's naming ``bdcdyh``); afterwards the valid entry with the
    malformed one's 业务号 issues (201): the refused one stored nothing."""
    ctx.start()
    findings = []
    for name, content in (("not JSON", b'{"ywh": '), ("a JSON array", b"[1, 2]")):
        pushed = ctx.push(None, step="malformed", content=content,
                          headers={"Content-Type": "application/json"})  # fmt: skip
        if pushed.status != 400:
            findings.append(_status(f"POST /entries ({name})", 400, pushed.status, pushed.body))
    entry = ctx.property_entry("M")
    bad = dict(entry, bdcdyh=[entry["bdcdyh"][0][:27]])
    pushed = ctx.push(bad, step="malformed")
    fields = [str(e.get("field")) for e in (pushed.body or {}).get("errors", [])
              if isinstance(e, dict)] if isinstance(pushed.body, dict) else []  # fmt: skip
    if pushed.status != 400:
        findings.append(_status(f"{_push_op(pushed)} (27-character bdcdyh)", 400,
                                pushed.status, pushed.body))  # fmt: skip
    elif "bdcdyh" not in fields:
        findings.append(Evidence(f"{_push_op(pushed)}: errors[].field", "bdcdyh",
                                 ", ".join(fields) or "none"))  # fmt: skip
    findings += _nothing_stored(ctx, entry, "malformed entry")
    if findings:
        return failed("malformed input was not refused, or was stored", findings)
    return passed("not JSON, a JSON array and a malformed bdcdyh: 400 (bdcdyh named); the "
                  "valid entry under the same 业务号 issued after: nothing had been stored")  # fmt: skip


@check("F-116", NAME, "Oversize input is refused (413) and nothing is stored",
       "规则第7条; RFC 9110 §15.5.14")  # fmt: skip
@_memo
def oversize(ctx: InterfaceSession) -> Verdict:
    """An entry one byte over the target's limit of a JSON body (setting ``max_request_bytes``)
    is refused with 413; afterwards the same entry at its normal size issues (201)."""
    ctx.start()
    entry = ctx.property_entry("O")
    base = len(json.dumps(dict(entry, fj=""), ensure_ascii=False).encode("utf-8"))
    padding = "附" * ((ctx.max_request_bytes - base) // 3 + 2)
    big = dict(entry, fj=padding)
    pushed = ctx.push(big, step="oversize")
    findings = []
    if pushed.status != 413:
        findings.append(_status(f"{_push_op(pushed)} ({len(padding) * 3 + base} bytes)", 413,
                                pushed.status, pushed.body))  # fmt: skip
    findings += _nothing_stored(ctx, entry, "oversize entry")
    if findings:
        return failed("oversize input was not refused, or was stored", findings)
    return passed(f"an entry over {ctx.max_request_bytes} bytes: 413; the same entry at its "
                  "size issued after: nothing had been stored")  # fmt: skip


@check("P-117", NAME, "Every response the plan saw matches the target's OpenAPI document",
       "OpenAPI 3.1 §4.8.16–4.8.18; JSON Schema 2020-12")  # fmt: skip
@_memo
def schema(ctx: InterfaceSession) -> Verdict:
    """Every response of the target the run collected (all the other checks are run first)
    has a documented status (or ``default``), a documented media type, and a JSON body valid
    against the operation's schema in ``{target}/api/v1/openapi.json``."""
    from bdcert_conformance.kit.model import checks_of

    for c in checks_of(NAME):
        if c.id != "P-117":
            with contextlib.suppress(Exception):
                c.func(ctx)
    response = ctx.client.get(ctx.api_prefix + "/openapi.json")
    response.raise_for_status()
    document = response.json()
    seen = [e for e in ctx.exchanges if e.system == "target"]
    findings = schema_findings(document, seen, ctx.api_prefix)
    if findings:
        return failed(f"{len(findings)} of {len(seen)} responses do not match the OpenAPI "
                      "document", findings)  # fmt: skip
    operations = {(e.method, e.path) for e in seen}
    return passed(f"{len(seen)} responses ({len(operations)} distinct requests) match the "
                  "OpenAPI document")  # fmt: skip


from bdcert_conformance.broken.interface import BROKEN  # noqa: E402  (it imports this module's names)
