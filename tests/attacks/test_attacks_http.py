"""Attacks on the HTTP interface (adapters/bdcert_adapters/service), each asserting the SECURE
behaviour: a test that fails shows a hole that is still open.

Run: PYTHONPATH=sdk:plugins:adapters:conformance python -m pytest tests/attacks/test_attacks_http.py
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Served, copy_served, served, served_template  # noqa: F401
from tests.service.issued import ISSUED_FIXTURE

issued = ISSUED_FIXTURE

FIRST = "川(2024)成都市不动产权第0000001号"  # 王晓明, authority 510100
DEEP = 100_000  # nesting depth of the "deeply nested JSON" bodies


def _deep(key: str | None = None) -> bytes:
    nested = b"[" * DEEP + b"]" * DEEP
    return nested if key is None else b'{"' + key.encode() + b'":' + nested + b"}"


def _no_5xx(r: Any) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    assert "Traceback" not in r.text and "sqlite" not in r.text.lower()


# --- 5xx on crafted input --------------------------------------------------------------------


def test_feed_cursor_beyond_64_bits_is_a_400_not_a_500(issued: Served) -> None:
    """GET /api/v1/feed?after=99999999999999999999999999 (a registrar, its own authority):
    parse_cursor accepts any ASCII digit string, int() makes it > 2**63, SQLite raises
    OverflowError -> 500."""
    r = issued.client.get(
        "/api/v1/feed",
        params={"after": "9" * 26},
        headers=issued.auth("registrar-510700"),
    )
    _no_5xx(r)
    assert r.status_code in (200, 400)


def test_feed_cursor_at_2_pow_63_is_not_a_500(issued: Served) -> None:
    r = issued.client.get(
        "/api/v1/feed", params={"after": str(2**63)}, headers=issued.auth("platform")
    )
    _no_5xx(r)


def test_deeply_nested_json_deposit_is_a_400(issued: Served) -> None:
    """POST /api/v1/collection, application/json, [[[[…]]]] 100 000 deep: json.loads raises
    RecursionError, which the handler does not catch (it catches ValueError) -> 500."""
    r = issued.client.post(
        "/api/v1/collection",
        content=_deep(),
        headers={**issued.auth("registrar-510700"), "content-type": "application/json"},
    )
    _no_5xx(r)
    assert r.status_code == 400


def test_deeply_nested_json_in_multipart_deposit_metadata_is_a_400(issued: Served) -> None:
    """POST /api/v1/collection, multipart, part ``metadata`` = [[[[…]]]]: same RecursionError."""
    r = issued.client.post(
        "/api/v1/collection",
        data={"metadata": _deep().decode()},
        files={"pdf": ("x.pdf", b"%PDF-1.7\n", "application/pdf")},
        headers=issued.auth("registrar-510700"),
    )
    _no_5xx(r)
    assert r.status_code == 400


def test_deeply_nested_json_deposit_event_is_a_400(issued: Served) -> None:
    """POST /api/v1/collection/{number}/events with {"a": [[[[…]]]]}: Litestar's body decoding
    fails with RecursionError -> 500."""
    r = issued.client.post(
        "/api/v1/collection/x/events",
        content=_deep("a"),
        headers={**issued.auth("registrar-510700"), "content-type": "application/json"},
    )
    _no_5xx(r)
    assert r.status_code == 400


def test_deeply_nested_json_countersignature_is_a_400(issued: Served) -> None:
    """POST /api/v1/witness/countersignatures, JSON {"pdf": [[[[…]]]]}: RecursionError -> 500."""
    r = issued.client.post(
        "/api/v1/witness/countersignatures",
        content=_deep("pdf"),
        headers={**issued.auth("registrar-510700"), "content-type": "application/json"},
    )
    _no_5xx(r)
    assert r.status_code == 400


# --- limits: rate limits that do not cover everything, batch lines beyond the entry limit -----


@pytest.fixture
def limited(
    served_template: tuple[Path, dict[str, str]],  # noqa: F811
    tmp_path: Path,
) -> Iterator[Served]:
    """A served workspace whose rate limit is 3 requests per client per minute."""
    from litestar.testing import TestClient

    from bdcert.lifecycle import Registry
    from bdcert_adapters.service import ServiceSettings, create_app

    ws, tokens = copy_served(served_template, tmp_path / "ws")
    app = create_app(lambda: Registry.open(ws), ServiceSettings(rate_limit=3))
    with TestClient(app) as client:
        yield Served(ws, tokens, client)


def test_public_upload_check_is_rate_limited(limited: Served) -> None:
    """POST /v/check (multipart, an anonymous PDF upload verified server side: parse + signature
    + chain + CRL work for up to max_upload_bytes each) ten times from one address with
    rate_limit = 3: the rate-limit guard is installed only on the /api/v1 router, so the public
    page takes every upload; the same work through /api/v1/verify is limited."""
    statuses = []
    for _ in range(10):
        r = limited.client.post(
            "/v/check", files={"file": ("a.pdf", b"%PDF-1.7\n" + b"0" * 4096, "application/pdf")}
        )
        statuses.append(r.status_code)
    assert 429 in statuses, statuses


def test_api_verify_is_rate_limited_for_comparison(limited: Served) -> None:
    """Control: the same anonymous upload to /api/v1/verify is refused after 3 (this holds)."""
    statuses = [
        limited.client.post(
            "/api/v1/verify", content=b"%PDF-1.7\n", headers={"content-type": "application/pdf"}
        ).status_code
        for _ in range(6)
    ]
    assert 429 in statuses, statuses


def test_metrics_are_not_served_to_anonymous_callers(limited: Served) -> None:
    """GET /metrics without credentials answers 200 with the Prometheus exposition: business
    counters per authority (certificates issued, verdicts, backlog, rate-limited refusals) and
    process internals, to anybody on the public listener, outside the rate limit."""
    r = limited.client.get("/metrics")
    assert r.status_code in (401, 403, 404), r.text[:200]


def test_batch_line_over_the_entry_limit_is_refused_and_not_echoed(
    served: Served,  # noqa: F811
) -> None:
    """POST /api/v1/entries/batch with one 3 MB line (an entry pushed alone is limited to
    max_request_bytes = 1 MiB): the line is held and parsed whole, and its ``ywh`` is echoed
    back in full in the per-line result (3 MB out for 3 MB in; an entry's text echoed)."""
    line = b'{"ywh":"' + b"a" * 3_000_000 + b'"}\n'
    r = served.client.post(
        "/api/v1/entries/batch",
        content=line,
        headers={**served.auth("platform"), "content-type": "application/x-ndjson"},
    )
    _no_5xx(r)
    assert len(r.content) < 64 * 1024, f"{len(r.content)} bytes answered"


# --- personal data to anonymous callers ------------------------------------------------------


def test_anonymous_verify_report_names_no_person(issued: Served) -> None:
    """POST /api/v1/verify, anonymous, a genuine certificate's PDF: the report must not carry a
    holder's full name or ID number."""
    from bdcert.lifecycle import Registry

    with Registry.open(issued.workspace) as registry:
        platform = registry.authenticate({"token": issued.tokens["platform"]})
        pdf = registry.pdf(FIRST, principal=platform)
    r = issued.client.post(
        "/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}
    )
    assert r.status_code == 200
    assert "王晓明" not in r.text
    assert "510104198503120176" not in r.text


# --- idempotency race ------------------------------------------------------------------------


def test_same_ywh_pushed_concurrently_with_different_content(
    served: Served,  # noqa: F811
) -> None:
    """Two POST /api/v1/entries with the same ywh and different 坐落, at the same time: exactly
    one may issue; the other must be a 409 idempotency conflict (never two certificates for one
    业务号, never a 5xx)."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.support import TIMELINE

    base = json.loads(TIMELINE.read_text(encoding="utf-8").splitlines()[0])
    other = dict(base, zl=base["zl"] + "附1号")

    def push(body: dict[str, Any]) -> Any:
        return served.client.post(
            "/api/v1/entries",
            content=json.dumps(body),
            headers={**served.auth("platform"), "content-type": "application/json"},
        )

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(push, [base, other]))
    statuses = sorted(r.status_code for r in results)
    for r in results:
        _no_5xx(r)
    assert statuses == [201, 409], [(r.status_code, r.text[:200]) for r in results]


# --- the city's mirror trusting what the province (or a man in the middle) sends ---------------


def _mirror_pair(template: tuple[Path, dict[str, str]], tmp_path: Path) -> Any:
    from litestar.testing import TestClient

    from bdcert.lifecycle import Registry
    from bdcert_adapters.service import ServiceSettings, create_app

    ws, tokens = copy_served(template, tmp_path / "province")
    city_ws, _ = copy_served(template, tmp_path / "city")
    app = create_app(lambda: Registry.open(ws), ServiceSettings())
    return ws, tokens, city_ws, TestClient(app)


def _hostile_province(client: Any, token: str, rewrite: Any) -> Any:
    """A ProvinceClient whose answers pass through ``rewrite(request, response)``."""
    import httpx
    from litestar.testing.transport import TestClientTransport

    from bdcert_adapters.client import ProvinceClient

    inner = TestClientTransport(client)

    class Hostile(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response: httpx.Response = rewrite(request, inner)
            return response

    return ProvinceClient("http://testserver.local", token=token, transport=Hostile(), retries=0)


def _push_sample(ws: Any) -> None:
    import contextlib

    from bdcert.errors import BdcertError
    from bdcert.lifecycle import Registry
    from bdcert.model import Principal
    from tests.support import TIMELINE

    platform = Principal("platform", frozenset({"platform"}))
    with Registry.open(ws) as registry:
        for line in TIMELINE.read_text(encoding="utf-8").splitlines()[:12]:
            with contextlib.suppress(BdcertError):
                registry.push(json.loads(line), principal=platform)


def _authorities_in(registry: Any) -> dict[str, int]:
    from bdcert.lifecycle.feed import library_summary

    return {
        code: library_summary(registry.storage, code, at=registry.clock()).total
        for code in sorted(registry.services.authorities)
    }


def test_mirror_refuses_feed_events_of_an_authority_it_did_not_ask_for(
    served_template: tuple[Path, dict[str, str]],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Mirror(city, province, authority="510100").sync() against a province (or MITM) that
    drops the ``authority`` filter and sends the whole province's feed (GET
    /api/v1/feed?authority=510100 answered with 510700's events too). The mirror checks the PDF
    hash and that the seal chains to *some* trusted root, never that the event's / certificate's
    authority is the one mirrored: other cities' certificates (holders, ID numbers) land in this
    city's store."""
    import httpx

    from bdcert.lifecycle import Registry
    from bdcert_adapters.mirror import Mirror, MirrorError

    ws, tokens, city_ws, client = _mirror_pair(served_template, tmp_path)
    _push_sample(ws)

    def drop_filter(request: httpx.Request, inner: Any) -> httpx.Response:
        if request.url.path.endswith("/feed"):
            params = [(k, v) for k, v in request.url.params.multi_items() if k != "authority"]
            request = httpx.Request(
                request.method, request.url.copy_with(params=params), headers=request.headers
            )
        # a malicious province serves whatever it likes: here, with the platform's rights
        request.headers["authorization"] = f"Bearer {tokens['platform']}"
        response: httpx.Response = inner.handle_request(request)
        return response

    with client, Registry.open(city_ws) as city:
        province = _hostile_province(client, tokens["registrar-510100"], drop_filter)
        with contextlib.suppress(MirrorError):
            Mirror(city, province, authority="510100").sync()
        held = _authorities_in(city)
    assert held["510100"] > 0, held  # the attack ran: Chengdu's certificates were mirrored
    assert {k: v for k, v in held.items() if k != "510100" and v} == {}, held


def test_mirror_refuses_metadata_that_differs_from_the_sealed_pdf(
    served_template: tuple[Path, dict[str, str]],  # noqa: F811
    tmp_path: Path,
) -> None:
    """A province/MITM rewrites the feed's ``certificate`` of an issued event (holder's name
    and ID number replaced) but serves the genuine sealed PDF (same number, same SHA-256): the
    mirror stores the forged holders next to the genuine PDF: the city then answers lookups,
    holder reads and self-downloads from metadata its seal does not back."""
    import httpx

    from bdcert.lifecycle import Registry
    from bdcert_adapters.mirror import Mirror, MirrorError

    ws, tokens, city_ws, client = _mirror_pair(served_template, tmp_path)
    _push_sample(ws)
    forged_id = "110101199001011237"

    def forge_holders(request: httpx.Request, inner: Any) -> httpx.Response:
        response: httpx.Response = inner.handle_request(request)
        if not request.url.path.endswith("/feed"):
            return response
        response.read()
        body = response.json()
        for event in body["events"]:
            cert = event.get("certificate")
            if cert and cert.get("holders"):
                cert["holders"][0]["name"] = "张三"
                cert["holders"][0]["id_number"] = forged_id
        return httpx.Response(
            response.status_code,
            json=body,
            request=request,
        )

    with client, Registry.open(city_ws) as city:
        province = _hostile_province(client, tokens["registrar-510100"], forge_holders)
        mirror = Mirror(city, province, authority="510100")
        refused: MirrorError | None = None
        try:
            mirror.sync()
        except MirrorError as exc:
            refused = exc
        from bdcert.lifecycle.feed import feed_records

        with city.storage.transaction() as tx:
            stored = feed_records(tx).certificates_of_authority("510100", limit=1000)
        forged = [c.number for c in stored if any(h.id_number == forged_id for h in c.holders)]
        cursor = mirror.cursor()
    # the attack ran: the forged metadata reached the mirror, which refused it (every issued
    # event is forged, so refusing is storing none) and did not move its cursor past it
    assert refused is not None and "differs from its sealed PDF" in str(refused), refused
    assert cursor is None, cursor
    assert forged == [], f"stored with forged holders: {forged}"


# --- anonymous oracles on personal data -------------------------------------------------------


def test_anonymous_information_check_is_not_a_field_by_field_oracle(issued: Served) -> None:
    """POST /api/v1/checks/information, anonymous, {"zh": FIRST, "qlr": <guess>, "zjh": <wrong>}:
    code 6 names the differing fields, so a right name is told apart from a wrong one
    ("differ: zjh" vs "differ: qlr, zjh"), and then a right ID number from a wrong one
    ("differ: zl" once qlr and zjh are right). /api/v1/lookup answers every mismatch alike
    precisely so that names cannot be walked; this operation undoes that for anybody."""
    c = issued.client
    wrong_id = "510104198503120177"
    right_name = c.post(
        "/api/v1/checks/information", json={"zh": FIRST, "qlr": "王晓明", "zjh": wrong_id}
    ).json()
    wrong_name = c.post(
        "/api/v1/checks/information", json={"zh": FIRST, "qlr": "李四", "zjh": wrong_id}
    ).json()
    assert (right_name["code"], right_name["fields"], right_name["detail"]) == (
        wrong_name["code"],
        wrong_name["fields"],
        wrong_name["detail"],
    ), (right_name, wrong_name)


def test_anonymous_information_check_does_not_confirm_an_id_number(issued: Served) -> None:
    """Same operation: with the right name and the right ID number, a wrong 坐落 answers
    "these values differ from the register: zl": the caller learns that 510104198503120176 is
    王晓明's ID number and that he holds FIRST."""
    r = issued.client.post(
        "/api/v1/checks/information",
        json={"zh": FIRST, "qlr": "王晓明", "zjh": "510104198503120176", "zl": "x"},
    ).json()
    assert "zl" not in r["fields"] and "zl" not in r["detail"], r


@pytest.mark.parametrize(
    ("path", "operator"),
    [
        ("/api/v1/checks/information", None),  # anonymous: anybody can make the service 500
        ("/api/v1/agreements", "platform"),
        ("/api/v1/agreements/SA-1/revoke", "platform"),
        ("/api/v1/self-download", "holder-wang"),
    ],
)
def test_deeply_nested_json_body_is_a_400_everywhere(
    issued: Served, path: str, operator: str | None
) -> None:
    """POST {path} with {"a": [[[[…]]]]} 100 000 deep, application/json: the body Litestar
    decodes for a ``data`` parameter raises RecursionError, answered 500 (and a traceback
    logged per request: log flooding by an anonymous caller on /checks/information)."""
    headers = {"content-type": "application/json", **(issued.auth(operator) if operator else {})}
    r = issued.client.post(path, content=_deep("a"), headers=headers)
    _no_5xx(r)
    assert r.status_code == 400


def test_forwarded_headers_do_not_reset_the_rate_limit(limited: Served) -> None:
    """Held (regression): X-Forwarded-For / X-Real-IP / Forwarded do not give a new bucket; nor
    do made-up tokens (a 401 counts against the address)."""
    statuses = []
    for i in range(8):
        headers = {
            "X-Forwarded-For": f"203.0.113.{i}",
            "X-Real-IP": f"198.51.100.{i}",
            "Forwarded": f"for=192.0.2.{i}",
        }
        if i % 2:
            headers["Authorization"] = f"Bearer made-up-{i}"
        statuses.append(
            limited.client.get(
                "/api/v1/lookup", params={"token": f"x{i}"}, headers=headers
            ).status_code
        )
    assert 429 in statuses, statuses


def test_a_holder_cannot_tell_registered_numbers_from_unknown_ones(issued: Served) -> None:
    """GET /api/v1/certificates/{number} as holder-wang: another person's certificate answers
    403, an unregistered number 404 (the certificate is fetched before authorizing; the same
    on /collection/{number}/events for any role): numbers, which are sequential, can be walked
    to learn what is registered. /lookup answers both alike on purpose."""
    from urllib.parse import quote

    other = "川(2024)绵阳市不动产权第0000001号"  # 吴秀英's
    unknown = "川(2024)绵阳市不动产权第0009999号"
    h = issued.auth("holder-wang")
    a = issued.client.get("/api/v1/certificates/" + quote(other), headers=h)
    b = issued.client.get("/api/v1/certificates/" + quote(unknown), headers=h)
    assert a.status_code == 403
    assert a.status_code == b.status_code, (a.status_code, b.status_code)
