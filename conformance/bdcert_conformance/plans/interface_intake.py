"""The interface plan's checks of intake and deposit: push (P-101), replay (P-102), conflict
(F-103), deposit at the province (P-104, F-105), another authority's clerk (F-114), malformed
(F-115) and oversize (F-116) input."""

from __future__ import annotations

import json
from typing import Any

from bdcert_conformance.kit.model import Evidence, Verdict, check
from bdcert_conformance.plans.interface_common import (
    NAME,
    PROOF,
    PROPERTY,
    brief,
    memoized,
    push_op,
    status_evidence,
    verdict_of,
)
from bdcert_conformance.plans.interface_session import (
    InterfaceSession,
    Pushed,
    cert_path,
)


@check(
    "P-101",
    NAME,
    "A pushed entry is accepted: 201, Location, the certificate kind per article 5/6",
    "规则第5条、第6条、第7条",
)
@memoized
def push_accepted(ctx: InterfaceSession) -> Verdict:
    """A valid registration-book entry pushed after 登簿 is accepted with 201, a ``Location``
    that leads to the new certificate's metadata, and the kind the rule assigns: a property
    right (国有建设用地使用权/房屋所有权) gives a 不动产权证书 (``property_certificate``, article 5),
    a 抵押权 gives a 不动产登记证明 (``registration_proof``, article 6)."""
    findings: list[Evidence] = []
    compared = 0
    for pushed, kind, word in (
        (ctx.issued("A"), PROPERTY, "不动产权"),
        (ctx.proof(), PROOF, "不动产证明"),
    ):
        op = push_op(pushed)
        if pushed.status != 201:
            findings.append(status_evidence(op, 201, pushed.status, pushed.body))
            continue
        body = pushed.body if isinstance(pushed.body, dict) else {}
        if body.get("kind") != kind:
            findings.append(Evidence(f"{op}: kind", kind, str(body.get("kind"))))
        if not pushed.numbers:
            findings.append(Evidence(f"{op}: numbers", "one certificate number", "none"))
            continue
        if not all(word in n for n in pushed.numbers):
            findings.append(
                Evidence(f"{op}: number", f"a number with {word}", ", ".join(pushed.numbers))
            )
        location = pushed.headers.get("location")
        if not location:
            findings.append(Evidence(f"{op}: Location", "the certificate's URL", None))
        else:
            response = ctx.call("clerk", "GET", location, step="location", absolute=True)
            number = response.json().get("number") if response.status_code == 200 else None
            if number != pushed.numbers[0]:
                findings.append(
                    Evidence(
                        f"GET {location}", pushed.numbers[0], f"{response.status_code} {number}"
                    )
                )
        compared += 1
    return verdict_of(
        findings,
        "a valid entry was not accepted as the rules require",
        f"{compared} entries (a property right, a 抵押权) answered 201 with Location "
        "and the kind of article 5/6",
    )


def _issued_once(ctx: InterfaceSession, first: Pushed) -> list[Evidence]:
    """The feed's issue events of ``first``'s 业务号 are its numbers, once each."""
    issued = [
        str(e.get("number"))
        for e in ctx.feed_events()
        if e.get("kind") == "issued" and e.get("business_number") == first.ywh
    ]
    if sorted(issued) == sorted(first.numbers):
        return []
    return [
        Evidence(f"GET /feed: issues of {first.ywh}", ", ".join(first.numbers), ", ".join(issued))
    ]


@check(
    "P-102",
    NAME,
    "The same entry pushed again answers 200 with the same numbers, issuing nothing",
    "规则第7条（推送幂等）",
)
@memoized
def replay(ctx: InterfaceSession) -> Verdict:
    """A push repeated after a lost answer must not issue a second certificate: the same
    entry again answers 200 with the first push's numbers, and the change feed shows one issue
    per number for that 业务号."""
    first, again = ctx.issued("A"), ctx.replay()
    findings = []
    if again.status != 200:
        findings.append(status_evidence(push_op(again) + " (again)", 200, again.status, again.body))
    if again.numbers != first.numbers:
        findings.append(
            Evidence(
                f"{push_op(again)} (again): numbers",
                ", ".join(first.numbers),
                ", ".join(again.numbers),
            )
        )
    findings += _issued_once(ctx, first)
    return verdict_of(
        findings,
        "a replayed entry was not answered with its first result",
        f"{first.ywh} pushed twice: 200, the same {len(first.numbers)} number(s), "
        "one issue event each in the feed",
    )


@check(
    "F-103",
    NAME,
    "The same 业务号 with other content is refused: 409 naming the fields",
    "规则第7条（推送幂等）; RFC 9457",
)
@memoized
def conflict(ctx: InterfaceSession) -> Verdict:
    """An entry whose 业务号 was pushed before with other content is a conflict, not a
    correction: 409 with a problem document naming the fields (``errors[].field``), the first
    certificate unchanged and in force, nothing issued."""
    first, other = ctx.issued("A"), ctx.conflict()
    findings = []
    op = push_op(other) + " (other zl)"
    if other.status != 409:
        findings.append(status_evidence(op, 409, other.status, other.body))
    errors = other.body.get("errors") if isinstance(other.body, dict) else None
    fields = [str(e.get("field")) for e in errors or [] if isinstance(e, dict)]
    if other.status == 409 and not fields:
        findings.append(Evidence(f"{op}: errors[].field", "the conflicting fields", "none"))
    number = first.numbers[0] if first.numbers else None
    if number:
        meta = ctx.metadata(number, step="conflict")
        zl = {f.get("key"): f.get("value") for f in meta.get("face", [])}.get("zl")
        if zl != first.entry["zl"] or meta.get("status") != "valid":
            findings.append(
                Evidence(
                    f"GET /certificates/{number}",
                    f"{first.entry['zl']} valid",
                    f"{zl} {meta.get('status')}",
                )
            )
    findings += _issued_once(ctx, first)
    return verdict_of(
        findings,
        "a conflicting push was not refused as a conflict",
        f"{first.ywh} with another 坐落: 409 naming {', '.join(fields)}; the first "
        "certificate unchanged, nothing issued",
    )


@check(
    "P-104",
    NAME,
    "A certificate the city sealed is deposited (归集) at the province",
    "规则第7条第二款",
)
@memoized
def deposit_accepted(ctx: InterfaceSession) -> Verdict:
    """The city's own certificate (entry A's, its PDF downloaded from the target) deposited at
    the province with its metadata (number, 电子证照标识, kind, QR token, entry, issue time) is
    accepted (201) and then in the provincial library, in force."""
    body, response = ctx.deposit()
    number = body["number"]
    findings = []
    if response.status_code != 201:
        findings.append(
            status_evidence("POST /collection (province)", 201, response.status_code, response.text)
        )
    else:
        r = ctx.call("province", "GET", cert_path(number, "/status"), step="deposit", province=True)
        status = r.json().get("status") if r.status_code == 200 else None
        if status != "valid":
            findings.append(
                Evidence(
                    f"GET /certificates/{number}/status (province)",
                    "200 valid",
                    f"{r.status_code} {status}",
                )
            )
    return verdict_of(
        findings,
        "the province did not take the city's certificate",
        f"{number} deposited at the province (201) and in force there",
    )


@check(
    "F-105",
    NAME,
    "The province refuses a deposit that does not conform, with reasons",
    "规则第7条第二款",
)
@memoized
def deposit_refused(ctx: InterfaceSession) -> Verdict:
    """A deposit whose PDF was changed after sealing (one byte) is refused with 400 and the
    reasons (``errors``), and nothing is filed: the province does not know the number after."""
    body, response = ctx.deposit_tampered()
    number = body["number"]
    findings = []
    errors = response.json().get("errors") if response.status_code == 400 else None
    if response.status_code != 400:
        findings.append(
            status_evidence(
                "POST /collection (tampered PDF)", 400, response.status_code, response.text
            )
        )
    elif not errors:
        findings.append(Evidence("POST /collection: errors", "the reasons", "none"))
    r = ctx.call(
        "province", "GET", cert_path(number, "/status"), step="deposit-tampered", province=True
    )
    if r.status_code != 404:
        findings.append(
            Evidence(
                f"GET /certificates/{number}/status (province)",
                "404 (nothing filed)",
                str(r.status_code),
            )
        )
    reasons = "; ".join(str(e.get("message", e)) for e in errors or [])
    return verdict_of(
        findings,
        "the province did not refuse a tampered deposit",
        f"{number} with one byte changed: 400 ({reasons[:200]}); nothing filed",
    )


@check(
    "F-114",
    NAME,
    "A clerk of another authority is refused on this authority's certificates and entries",
    "规则第7条、第17条",
)
@memoized
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
            findings.append(
                Evidence(
                    f"GET /certificates/{number}{suffix} (other_clerk)", "403", str(r.status_code)
                )
            )
    r = ctx.call(
        "other_clerk", "GET", "/feed", step="other", params={"authority": ctx.authority, "limit": 1}
    )
    if r.status_code != 403:
        findings.append(
            Evidence(
                f"GET /feed?authority={ctx.authority} (other_clerk)", "403", str(r.status_code)
            )
        )
    entry = ctx.property_entry("X")
    pushed = ctx.push(entry, step="other", role="other_clerk")
    if pushed.status != 403:
        findings.append(
            status_evidence(push_op(pushed) + " (other_clerk)", 403, pushed.status, pushed.body)
        )
    after = ctx.push(entry, step="other")
    if after.status != 201:
        findings.append(
            Evidence(
                f"{push_op(after)} (clerk, after)",
                "201 (nothing stored before)",
                str(after.status),
                note=brief(after.body),
            )
        )
    return verdict_of(
        findings,
        "a clerk of another authority was not refused",
        f"other_clerk refused (403) on {len(reads)} reads, the feed and a push; the "
        "refused push stored nothing",
    )


def _nothing_stored(ctx: InterfaceSession, entry: dict[str, Any], what: str) -> list[Evidence]:
    """Push the valid ``entry`` whose 业务号 a refused input used: 201 proves nothing was stored
    under it."""
    after = ctx.push(entry, step=what)
    if after.status == 201:
        return []
    return [
        Evidence(
            f"{push_op(after)} (valid, after the refused {what})",
            "201 (nothing stored by the refused input)",
            str(after.status),
            note=brief(after.body),
        )
    ]


@check(
    "F-115",
    NAME,
    "Malformed input is refused (400 naming the field) and nothing is stored",
    "规则第7条; RFC 9457",
)
@memoized
def malformed(ctx: InterfaceSession) -> Verdict:
    """A body that is not JSON, a JSON array, and an entry with a malformed 不动产单元号 are
    refused with 400 (the entry's naming ``bdcdyh``); afterwards the valid entry with the
    malformed one's 业务号 issues (201): the refused one stored nothing."""
    ctx.start()
    findings = []
    for name, content in (("not JSON", b'{"ywh": '), ("a JSON array", b"[1, 2]")):
        pushed = ctx.push(
            None, step="malformed", content=content, headers={"Content-Type": "application/json"}
        )
        if pushed.status != 400:
            findings.append(
                status_evidence(f"POST /entries ({name})", 400, pushed.status, pushed.body)
            )
    entry = ctx.property_entry("M")
    bad = dict(entry, bdcdyh=[entry["bdcdyh"][0][:27]])
    pushed = ctx.push(bad, step="malformed")
    fields = (
        [str(e.get("field")) for e in (pushed.body or {}).get("errors", []) if isinstance(e, dict)]
        if isinstance(pushed.body, dict)
        else []
    )
    if pushed.status != 400:
        findings.append(
            status_evidence(
                f"{push_op(pushed)} (27-character bdcdyh)", 400, pushed.status, pushed.body
            )
        )
    elif "bdcdyh" not in fields:
        findings.append(
            Evidence(f"{push_op(pushed)}: errors[].field", "bdcdyh", ", ".join(fields) or "none")
        )
    findings += _nothing_stored(ctx, entry, "malformed entry")
    return verdict_of(
        findings,
        "malformed input was not refused, or was stored",
        "not JSON, a JSON array and a malformed bdcdyh: 400 (bdcdyh named); the "
        "valid entry under the same 业务号 issued after: nothing had been stored",
    )


@check(
    "F-116",
    NAME,
    "Oversize input is refused (413) and nothing is stored",
    "规则第7条; RFC 9110 §15.5.14",
)
@memoized
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
        findings.append(
            status_evidence(
                f"{push_op(pushed)} ({len(padding) * 3 + base} bytes)",
                413,
                pushed.status,
                pushed.body,
            )
        )
    findings += _nothing_stored(ctx, entry, "oversize entry")
    return verdict_of(
        findings,
        "oversize input was not refused, or was stored",
        f"an entry over {ctx.max_request_bytes} bytes: 413; the same entry at its "
        "size issued after: nothing had been stored",
    )
