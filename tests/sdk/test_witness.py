"""Witnessed audit checkpoints (:mod:`bdcert.audit.witness`): a city's mirror countersigns the
province's checkpoints; a history the province rewrote and re-sealed with its own key is then
reported, from the stored countersignatures or, once those are deleted too, from the witness's
copies. The countersignature is checked by poppler's ``pdfsig`` (no bdcert code).

The lifecycle runs on SQLite; the store's new records on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from sqlalchemy import delete

from bdcert.audit.witness import countersign, read_countersignature
from bdcert.lifecycle import Registry
from bdcert_adapters.cli.witness import witness_from
from bdcert_plugins.storage_sql.checkpoints import AUDIT_CHECKPOINT_COUNTER
from bdcert_plugins.storage_sql.schema import audit_checkpoints, witness_countersignatures
from tests.sdk.test_audit_checkpoints import _rewrite_from, _set_counter
from tests.service.conftest import use_tokens
from tests.support import make_workspace, pdfsig_trusting, raw_database, run_cli


@pytest.fixture(scope="module")
def city_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A city's own workspace (its own demo PKI); its audit authority, 510700, witnesses."""
    directory = tmp_path_factory.mktemp("city") / "ws"
    make_workspace(directory)
    config = directory / "bdcert.toml"
    config.write_text(config.read_text("utf-8") + '\n[audit]\nauthority = "510700"\n', "utf-8")
    return directory


@attrs.define
class Setup:
    province: Any  # the province's Workspace
    tokens: dict[str, str]
    city: Path
    client: Any  # a test client over the province's service
    local: str  # the province's bdcert.toml with local operators (for the command line)


def _trust(workspace: Path, root: Path) -> None:
    config = workspace / "bdcert.toml"
    text, count = re.subn(
        r"(?m)^trust_roots = \[(.*)\]$",
        lambda m: f'trust_roots = [{m[1]}, "{root}"]',
        config.read_text("utf-8"),
    )
    assert count == 1
    config.write_text(text + "\n[audit]\ncheckpoint_every = 0\n", "utf-8")


@pytest.fixture
def setup(workspace: Any, city_template: Path, tmp_path: Path) -> Iterator[Setup]:
    from litestar.testing import TestClient

    from bdcert_adapters.service import create_app

    city = tmp_path / "city"
    shutil.copytree(city_template, city)
    _trust(workspace.path, city / "pki" / "root.cert.pem")
    local = (workspace.path / "bdcert.toml").read_text("utf-8")
    tokens = use_tokens(workspace.path)
    province = type(workspace).load(workspace.path)
    with TestClient(create_app(lambda: Registry.open(province))) as client:
        yield Setup(province, tokens, city, client, local)


def _principal(name: str, **kw: Any) -> Any:
    from bdcert.model import Principal

    roles = {"platform": {"platform"}, "auditor": {"auditor"}}.get(name, {"registrar"})
    return Principal(name, roles, kw.get("authority"))


def _push_and_checkpoint(s: Setup, timeline: list[dict[str, Any]], lines: list[int]) -> Any:
    with Registry.open(s.province) as registry:
        for line in lines:
            registry.push(timeline[line], principal=_principal("platform"))
        return registry.checkpoint_audit(principal=_principal("platform"))


def _witness(s: Setup, operator: str = "registrar-510700") -> tuple[list[int], list[str]]:
    with Registry.open(s.city) as city:
        return witness_from(
            city, s.city / "witness", "http://testserver.local", s.tokens[operator],
            client=s.client,
        )  # fmt: skip


def _verify(s: Setup, copies: list[Path] = ()) -> list[str]:  # type: ignore[assignment]
    with Registry.open(s.province) as registry:
        return registry.verify_audit(
            principal=_principal("auditor"),
            witnesses=[(p.name, p.read_bytes()) for p in copies],
        )


@pytest.mark.parametrize("workspace", ["sqlite"], indirect=True)
def test_a_rewritten_and_resealed_history_is_reported_by_the_witness(
    setup: Setup, timeline: list[dict[str, Any]], tmp_path: Path
) -> None:
    s = setup
    first = _push_and_checkpoint(s, timeline, [0])
    done, failures = _witness(s)
    assert (done, failures) == ([1], []), failures
    second = _push_and_checkpoint(s, timeline, [1])
    assert _witness(s) == ([2], [])
    assert _witness(s) == ([], [])  # each checkpoint is countersigned once
    copies = sorted((s.city / "witness").glob("*.pdf"))
    assert [read_countersignature(p.read_bytes())["number"] for p in copies] == [1, 2]
    statement = read_countersignature(copies[1].read_bytes())
    assert (statement["witness"], statement["event_id"], statement["event_hash"]) == (
        "510700",
        second.event_id,
        second.event_hash,
    )
    assert statement["checkpoint_sha256"] == second.pdf_sha256
    # an outsider checks the countersignature with poppler against the city's root
    report = pdfsig_trusting(s.city / "pki" / "root.cert.pem", copies[1].read_bytes(), tmp_path)
    assert "Signature is Valid" in report and "Certificate is Trusted" in report, report

    # the province rewrites its log after checkpoint 1 and re-makes every checkpoint with its
    # own seal: its own checks agree with the forged history
    with raw_database(s.province) as conn:
        _rewrite_from(conn, first.event_id + 2, actor="mallory")
        conn.execute(delete(audit_checkpoints))
        _set_counter(conn, AUDIT_CHECKPOINT_COUNTER, 0)
    with Registry.open(s.province) as registry:
        for _ in range(2):
            registry.checkpoint_audit(principal=_principal("platform"))
        with registry.storage.transaction() as tx:
            assert tx.verify_audit_chain() == []
        assert registry.services.checkpointer.verify() == []  # its own seals cannot tell
    problems = _verify(s)
    assert any(
        p.startswith("history rewritten after checkpoint #2 witnessed by 510700 at ")
        and f"the log's event {second.event_id} has hash" in p
        for p in problems
    ), problems
    assert any("checkpoint #1 witnessed by 510700" in p for p in problems), problems

    # it deletes the countersignatures too: only the witness's copies still tell
    with raw_database(s.province) as conn:
        conn.execute(delete(witness_countersignatures))
    assert _verify(s) == []
    (s.province.path / "bdcert.toml").write_text(s.local, "utf-8")
    done = run_cli(s.province, "audit", "verify", "--operator", "auditor", "--witness",
                   *map(str, copies))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "history rewritten after checkpoint #2 witnessed by 510700" in done.stdout
    assert "no longer keeps this countersignature" in done.stdout
    assert (
        "witnessed checkpoints: 0 stored countersignature(s) and 2 witness's copy(ies) checked"
        in done.stdout
    ), done.stdout


@pytest.mark.parametrize("workspace", ["sqlite"], indirect=True)
def test_the_province_refuses_a_countersignature_that_does_not_match(
    setup: Setup, timeline: list[dict[str, Any]]
) -> None:
    s = setup
    made = _push_and_checkpoint(s, timeline, [0])
    summary = s.client.get("/api/v1/witness/checkpoints", headers=_auth(s, "auditor")).json()
    assert summary == [
        {
            "number": 1,
            "event_id": made.event_id,
            "event_hash": made.event_hash,
            "made_at": made.made_at.isoformat(),
            "pdf_sha256": made.pdf_sha256,
        }
    ]
    assert (
        s.client.get("/api/v1/witness/checkpoints", headers=_auth(s, "bank-shuchuan")).status_code
        == 403
    )
    with Registry.open(s.city) as city:

        def signed(**changes: Any) -> bytes:
            return countersign(
                {**summary[0], **changes},
                witness=city.authorities["510700"],
                seal_provider=city.seal_provider,
                renderer=city.renderer,
                now=city.clock(),
            )

        wrong_hash = signed(event_hash="0" * 64)
        unknown = signed(number=7)
        good = signed()
    post = "/api/v1/witness/countersignatures"
    pdf = {"Content-Type": "application/pdf"}
    r = s.client.post(post, content=wrong_hash, headers={**_auth(s, "registrar-510700"), **pdf})
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["event_hash"]
    r = s.client.post(post, content=unknown, headers={**_auth(s, "registrar-510700"), **pdf})
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["number"]
    r = s.client.post(post, content=good, headers={**_auth(s, "registrar-510100"), **pdf})
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["witness"]
    changed = bytearray(good)
    at = changed.index(b"/Keywords") + 1
    changed[at] = ord("k")
    r = s.client.post(post, content=bytes(changed), headers={**_auth(s, "registrar-510700"), **pdf})
    assert r.status_code == 400 and "seal fails" in r.json()["errors"][0]["message"]
    r = s.client.post(post, content=good, headers={**_auth(s, "registrar-510700"), **pdf})
    assert r.status_code == 201 and r.json()["witness"] == "510700"
    first_receipt = r.json()["received_at"]
    r = s.client.post(post, content=good, headers={**_auth(s, "registrar-510700"), **pdf})
    assert r.status_code == 200 and r.json()["new"] is False
    assert r.json()["received_at"] == first_receipt
    assert _verify(s) == []


def _auth(s: Setup, operator: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {s.tokens[operator]}"}


def test_the_store_keeps_countersignatures_and_deposits(workspace: Any) -> None:
    from datetime import date, datetime

    from bdcert.audit.witness import Countersignature, WitnessRecords
    from bdcert.lifecycle.collection import CollectionRecords
    from bdcert.model import CHINA_TZ, CertificateKind, Restriction

    at = datetime(2026, 12, 7, 10, 0, tzinfo=CHINA_TZ)
    record = Countersignature(3, "510700", 41, "a" * 64, "b" * 64, at, b"%PDF-1.7 sealed")
    with Registry.open(workspace) as registry:
        with registry.storage.transaction() as tx:
            assert isinstance(tx, WitnessRecords) and isinstance(tx, CollectionRecords)
            assert tx.add_countersignature(record) is True
            assert tx.add_countersignature(record) is False  # the same one again
            other = attrs.evolve(record, witness="513401", pdf=b"%PDF-1.7 other")
            assert tx.add_countersignature(other) is True
            assert tx.countersignatures() == [record, other]
            tx.reserve_sequence("510700", 2024, CertificateKind.PROPERTY_CERTIFICATE, 41)
            tx.reserve_sequence("510700", 2024, CertificateKind.PROPERTY_CERTIFICATE, 7)
            assert tx.next_sequence("510700", 2024, CertificateKind.PROPERTY_CERTIFICATE) == 42
        platform = _principal("platform")
        registry.push(_timeline()[0], principal=platform)
        with registry.storage.transaction() as tx:
            (number,) = tx.certificate_numbers()
            assert not tx.deposited(number)
            tx.add_deposit(number, "510100", at, "registrar-510100")
            assert tx.deposited(number)
            seizure = Restriction("510100-2024-900001", "法院", "(2024)川01执1号", "查封", None,
                                  None, at)  # fmt: skip
            tx.add_restriction(number, seizure)
            assert tx.lift_restriction(number, seizure.business_number, date(2026, 12, 6)) == 1
            assert tx.lift_restriction(number, seizure.business_number, date(2026, 12, 6)) == 0
            (ended,) = tx.get_certificate(number).restrictions
            assert ended.end == date(2026, 12, 6)


def _timeline() -> list[dict[str, Any]]:
    import json

    from tests.support import TIMELINE

    return [json.loads(line) for line in TIMELINE.read_text("utf-8").splitlines() if line]


@pytest.mark.parametrize("workspace", ["sqlite"], indirect=True)
def test_bdcert_witness_against_a_real_server(
    setup: Setup, timeline: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bdcert witness`` over real HTTP: uvicorn serving the province on a free port; a refusal
    is printed in full, the token may come from ``$BDCERT_PROVINCE_TOKEN``."""
    import socket
    import threading
    import time

    import uvicorn

    from bdcert_adapters.service import create_app

    s = setup
    _push_and_checkpoint(s, timeline, [0])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(lambda: Registry.open(s.province)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        city = type(s.province).load(s.city)
        # another authority's registrar hands in 510700's countersignature: refused, said in full
        refused = run_cli(city, "witness", "--from", url, "--token", s.tokens["registrar-510100"])
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "checkpoint #1: the province refused it: 400 " in refused.stderr, refused.stderr
        assert re.search(r"^  witness: \S.*\S$", refused.stderr, re.MULTILINE), refused.stderr
        assert not (s.city / "witness" / "checkpoint-000001-510700.countersignature.pdf").exists()
        monkeypatch.setenv("BDCERT_PROVINCE_TOKEN", s.tokens["registrar-510700"])
        done = run_cli(city, "witness", "--from", url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "witnessed checkpoint(s) #1" in done.stdout
        assert (s.city / "witness" / "checkpoint-000001-510700.countersignature.pdf").is_file()
        again = run_cli(city, "witness", "--from", url, "--token", s.tokens["registrar-510700"])
        assert again.returncode == 0 and "witnessed already" in again.stdout
        wrong = run_cli(city, "witness", "--from", url, "--token", "not-a-token")
        assert wrong.returncode == 1 and "401" in wrong.stderr
    finally:
        server.should_exit = True
        thread.join(10)
    with Registry.open(s.province) as registry, registry.storage.transaction() as tx:
        assert [(c.number, c.witness) for c in tx.countersignatures()] == [(1, "510700")]
