"""A city's mirror of the provincial library (rule article 12): following the province's feed
in-process, then with real processes killed mid-way (``kill -9``) and restarted.

The city's workspace is a copy of the province's demo workspace with an empty store: its trust
roots are the province's. Certificates reach the city only through the feed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bdcert.errors import BdcertError
from bdcert.lifecycle import Registry
from bdcert.lifecycle.feed import library_summary
from bdcert.model import Principal, VerdictCode
from tests.service.conftest import Served, copy_served, served_template
from tests.support import REPO, TIMELINE, raw_database, require_shared

require_shared(allow_module_level=True)

__all__ = ["served_template"]  # the session fixture, shared with tests/service

PLATFORM = Principal("platform", frozenset({"platform"}))
CHENGDU = "510100"
LINES = TIMELINE.read_text(encoding="utf-8").splitlines()


def push(registry: Registry, lines: list[str]) -> None:
    """Push sample entries as the platform (rejections are part of the timeline)."""
    for line in lines:
        with contextlib.suppress(BdcertError):
            registry.push(json.loads(line), principal=PLATFORM)


@pytest.fixture
def pair(
    served_template: tuple[Path, dict[str, str]], tmp_path: Path
) -> Iterator[tuple[Served, Registry]]:
    """A served province (in-process) and a city's registry, each with an empty store."""
    from litestar.testing import TestClient

    from bdcert_adapters.service import ServiceSettings, create_app

    ws, tokens = copy_served(served_template, tmp_path / "province")
    city_ws, _ = copy_served(served_template, tmp_path / "city")
    settings = ServiceSettings.from_settings(ws.table("service"))
    app = create_app(lambda: Registry.open(ws), settings)
    with TestClient(app) as client, Registry.open(city_ws) as city:
        yield Served(ws, tokens, client), city


class InProcess(httpx.BaseTransport):
    """An httpx transport to the served app in this process (Litestar's test transport, which
    has no ``close``)."""

    def __init__(self, served: Served) -> None:
        from litestar.testing.transport import TestClientTransport

        self.inner = TestClientTransport(served.client)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = self.inner.handle_request(request)
        return response


def province_client(served: Served, operator: str) -> Any:
    from bdcert_adapters.client import ProvinceClient

    return ProvinceClient(
        "http://testserver.local",
        token=served.tokens[operator],
        transport=InProcess(served),
        retries=0,
    )


def test_a_mirror_follows_the_feed_and_verifies_locally(
    pair: tuple[Served, Registry], tmp_path: Path
) -> None:
    from bdcert_adapters.mirror import Mirror
    from tests.support import pdfsig_trusting

    served, city = pair
    province = served.client.app.state.registry
    push(province, LINES[:10])
    mirror = Mirror(city, province_client(served, "registrar-510100"), authority=CHENGDU)
    first = mirror.sync()
    assert first > 0
    push(province, LINES[10:])
    second = mirror.sync()
    assert second > 0 and mirror.sync() == 0  # at the end of the feed: nothing more
    # every event once: as many mirror_apply records as the feed has events, each cursor once
    with city.storage.transaction() as tx:
        applied = [e for e in tx.audit_events() if e.action == "mirror_apply"]
    cursors = [e.details["cursor"] for e in applied]
    assert len(cursors) == len(set(cursors)) == first + second
    assert {e.details["kind"] for e in applied} == {
        "issued",
        "superseded",
        "cancelled",
        "restricted",
    }
    assert [r.equal for r in mirror.reconcile()] == [True]
    ours = library_summary(city.storage, CHENGDU)
    assert ours.digest == library_summary(province.storage, CHENGDU).digest
    assert ours.total == 17
    # the city verifies the province's documents against its own store and trust roots
    with province.storage.transaction() as tx:
        pdfs = {
            n: tx.get_pdf(n)
            for n in (
                "川(2024)成都市不动产权第0000006号",  # valid
                "川(2024)成都市不动产权第0000001号",  # superseded
                "川(2024)成都市不动产证明第0000001号",  # cancelled
                "川(2024)成都市不动产权第0000002号",  # restricted (查封)
            )
        }
    codes = [city.verify(pdf, principal=PLATFORM).code for pdf in pdfs.values()]
    assert codes == [
        VerdictCode.VALID,
        VerdictCode.SUPERSEDED,
        VerdictCode.CANCELLED,
        VerdictCode.RESTRICTED,
    ]
    # poppler, sharing no code with bdcert, finds the mirrored file sealed, whole and trusted
    with city.storage.transaction() as tx:
        mirrored = tx.get_pdf("川(2024)成都市不动产权第0000006号")
    report = pdfsig_trusting(served.workspace.path / "pki" / "root.cert.pem", mirrored, tmp_path)
    assert "Signature is Valid" in report and "Certificate is Trusted" in report, report
    assert "Total document signed" in report
    # nothing of another authority came
    assert library_summary(city.storage, "510700").total == 0
    # a lifting (解封), logged as the collection of a city's status change logs it, arrives too
    lift(province, "川(2024)成都市不动产权第0000002号", "510100-2024-000116")
    assert mirror.sync() == 1
    seized = pdfs["川(2024)成都市不动产权第0000002号"]
    assert city.verify(seized, principal=PLATFORM).code is VerdictCode.VALID
    assert [r.equal for r in mirror.reconcile()] == [True]


def lift(registry: Registry, number: str, ywh: str) -> None:
    """Lift seizure ``ywh`` of ``number`` as of yesterday, and log it (``lift_restriction``)."""
    from datetime import timedelta

    from bdcert.lifecycle.feed import feed_records
    from bdcert.model import CHINA_TZ, AuditEvent

    now = registry.clock()
    with registry.storage.transaction() as tx:
        end = (now.astimezone(CHINA_TZ) - timedelta(days=1)).date()
        feed_records(tx).lift_restriction(number, ywh, end)
        tx.append_audit(AuditEvent("lift_restriction", "platform", number, now, {"ywh": ywh}))


def test_an_event_is_never_applied_twice(pair: tuple[Served, Registry]) -> None:
    from bdcert_adapters.mirror import Mirror

    served, city = pair
    push(served.client.app.state.registry, LINES[:2])
    client = province_client(served, "registrar-510100")
    mirror = Mirror(city, client, authority=CHENGDU)
    events, _ = client.feed_page(None, CHENGDU)
    documents = mirror.fetch(events[0])
    assert mirror.apply(events[0], None, documents) is True
    # the same event again, as a crashed follower would retry it: refused, nothing changes
    assert mirror.apply(events[0], None, documents) is False
    assert mirror.cursor() == events[0].cursor
    assert mirror.sync() == len(events) - 1
    assert library_summary(city.storage, CHENGDU).total == 2


def test_a_document_that_does_not_match_the_feed_stops_the_mirror(
    pair: tuple[Served, Registry],
) -> None:
    from bdcert_adapters.client import ProvinceClient
    from bdcert_adapters.mirror import Mirror, MirrorError

    served, city = pair
    push(served.client.app.state.registry, LINES[:1])
    client = province_client(served, "registrar-510100")

    class Tampering(ProvinceClient):
        def pdf(self, number: str) -> bytes:
            data = bytearray(super().pdf(number))
            data[len(data) // 2] ^= 1
            return bytes(data)

    client.__class__ = Tampering
    mirror = Mirror(city, client, authority=CHENGDU)
    with pytest.raises(MirrorError, match="SHA-256"):
        mirror.sync()
    assert mirror.cursor() is None
    assert library_summary(city.storage, CHENGDU).total == 0


def test_the_city_serves_its_mirrored_library(
    pair: tuple[Served, Registry], tmp_path: Path
) -> None:
    """The city's own service answers the library summary the province answers."""
    from litestar.testing import TestClient

    from bdcert_adapters.mirror import Mirror
    from bdcert_adapters.service import create_app

    served, city = pair
    push(served.client.app.state.registry, LINES[:8])
    Mirror(city, province_client(served, "platform"), authority=None).sync()
    theirs = served.client.get("/api/v1/library/summary", headers=served.auth("platform"))
    city_app = create_app(lambda: Registry.open(tmp_path / "city"))
    with TestClient(city_app) as city_client:
        ours = city_client.get("/api/v1/library/summary", headers=served.auth("platform"))
    assert ours.status_code == 200
    assert ours.json()["authorities"] == theirs.json()["authorities"]
    assert {s["total"] for s in ours.json()["authorities"]} >= {1}


# --------------------------------------------------------------------------- real processes


def pick(*indexes: int) -> list[str]:
    """Sample lines of Chengdu (510100) by index: issues, and the later lines that supersede,
    cancel and restrict them (lines 14, 15, 19, 20 of the timeline)."""
    return [LINES[i] for i in indexes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(workspace: Path | None = None) -> dict[str, str]:
    paths = [str(REPO / p) for p in ("sdk", "plugins", "adapters", "conformance")] + [str(REPO)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}
    if workspace is not None:
        env["BDCERT_WORKSPACE"] = str(workspace)
    return env


def _start_province(workspace: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``bdcert serve`` on ``workspace`` at ``port``, its output appended to ``log``."""
    argv = ["-m", "bdcert_adapters.cli", "serve", "--workspace", str(workspace)]
    argv += ["--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *argv], env=_env(workspace), stdout=out, stderr=out, cwd=REPO
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        assert proc.poll() is None, log.read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError("the province did not start: " + log.read_text(errors="replace"))


def _start_city(city: Path, url: str, token: str, log: Path) -> subprocess.Popen[bytes]:
    argv = ["-m", "bdcert_adapters.cli", "city", "sync", "--workspace", str(city)]
    argv += ["--from", url, "--authority", CHENGDU, "--follow", "--interval", "0.2"]
    env = {**_env(), "BDCERT_PROVINCE_TOKEN": token}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *argv], env=env, stdout=out, stderr=out)


def _applied(city: Path) -> int:
    """Events the city's mirror has applied (0 before the first)."""
    from bdcert.config import Workspace

    with raw_database(Workspace.load(city)) as conn:
        found = conn.exec_driver_sql("SELECT sum(applied) FROM mirror_state").scalar()
    return int(found or 0)


def _feed_length(province: Registry) -> int:
    from bdcert.lifecycle.feed import FEED_KINDS, feed_records

    with province.storage.transaction() as tx:
        return len(
            feed_records(tx).logged_events(
                after=0, actions=FEED_KINDS, authority_code=CHENGDU, limit=1000
            )
        )


def _wait(condition: Any, what: str, procs: list[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        for p in procs:
            assert p.poll() is None, f"a process ended: {log.read_text(errors='replace')}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}: " + log.read_text(
            errors="replace"
        )
        time.sleep(0.1)


def test_crash_of_province_and_city_mid_way_applies_every_event_once(
    served_template: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    ws, tokens = copy_served(served_template, tmp_path / "province")
    city_ws, _ = copy_served(served_template, tmp_path / "city")
    city_path = Path(city_ws.path)
    log = tmp_path / "processes.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    token = tokens["registrar-510100"]
    Registry.open(city_ws).close()  # its store made, so that it can be counted from the start
    with Registry.open(ws) as province:
        push(province, pick(0, 1))
        procs = [_start_city(city_path, url, token, log), _start_province(Path(ws.path), port, log)]
        _wait(lambda: _applied(city_path) > 0, "the first applied event", procs, log)
        push(province, pick(2, 3, 4, 8))  # the city follows while pushes continue …
        for proc in procs:  # … and both die without a chance to clean up
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        killed_at = _applied(city_path)
        push(province, pick(13, 14))  # pushes continue while both are down: supersessions
        procs = [_start_city(city_path, url, token, log), _start_province(Path(ws.path), port, log)]
        push(province, pick(18, 19))  # a cancellation and a seizure (查封)
        total = _feed_length(province)
        _wait(lambda: _applied(city_path) == total, "every event", procs, log)
        city, server = procs
        city.send_signal(signal.SIGTERM)
        assert city.wait(timeout=30) == 0, log.read_text(errors="replace")
        argv = ["city", "reconcile", "--workspace", str(city_path), "--from", url]
        reconcile = subprocess.run(
            [sys.executable, "-m", "bdcert_adapters.cli", *argv, "--authority", CHENGDU],
            env={**_env(), "BDCERT_PROVINCE_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
        assert f"{CHENGDU}: equal" in reconcile.stdout
        assert 0 < killed_at < total
        with province.storage.transaction() as tx:
            theirs = {n: tx.get_certificate(n) for n in tx.certificate_numbers(limit=1000)}
    # the city's store, counted without bdcert: every certificate once, statuses equal
    with raw_database(city_ws) as conn:
        rows = conn.exec_driver_sql("SELECT number, status FROM certificates").all()
        applied = conn.exec_driver_sql(
            "SELECT details FROM audit_events WHERE action = 'mirror_apply'"
        ).all()
        seizures = conn.exec_driver_sql("SELECT number, ywh FROM restrictions").all()
        pdfs = dict(conn.exec_driver_sql("SELECT number, pdf FROM pdfs").all())
    with raw_database(ws) as conn:
        filed = dict(conn.exec_driver_sql("SELECT number, pdf_sha256 FROM certificates").all())
    numbers = [r.number for r in rows]
    assert len(numbers) == len(set(numbers))
    # the city holds the very files the province filed (hashed here, not by bdcert)
    assert {n: hashlib.sha256(bytes(p)).hexdigest() for n, p in pdfs.items()} == {
        n: filed[n] for n in numbers
    }
    chengdu = {n: c for n, c in theirs.items() if c.authority_code == CHENGDU}
    assert {r.number: r.status for r in rows} == {n: c.status.value for n, c in chengdu.items()}
    cursors = [json.loads(r.details)["cursor"] for r in applied]
    assert len(cursors) == len(set(cursors)) == total
    assert len(seizures) == len(set(seizures)) == sum(len(c.restrictions) for c in chengdu.values())


def test_the_city_commands_sync_and_reconcile(
    pair: tuple[Served, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bdcert city sync --once`` and ``bdcert city reconcile``, run in-process against the
    in-process province: equal after a sync (exit 0), different after a push (exit 1)."""
    from bdcert.config import Workspace
    from bdcert_adapters.cli import city
    from tests.support import run_cli

    served, _ = pair
    monkeypatch.setattr(city, "_client", lambda args: province_client(served, "registrar-510100"))
    city_ws = Workspace.load(Path(served.workspace.path).parent / "city")
    province = served.client.app.state.registry
    push(province, LINES[:2])
    options = ["--from", "http://testserver.local", "--token", "t", "--authority", CHENGDU]
    synced = run_cli(city_ws, "city", "sync", *options, "--once")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.startswith("applied 2 events; cursor ")
    equal = run_cli(city_ws, "city", "reconcile", *options)
    assert (equal.returncode, equal.stdout.split(":")[0]) == (0, CHENGDU)
    assert "equal (2 certificates" in equal.stdout
    push(province, LINES[2:3])
    different = run_cli(city_ws, "city", "reconcile", *options)
    assert different.returncode == 1
    assert f"{CHENGDU}: different" in different.stdout
    assert "total: here 2, province 4" in different.stdout
    assert "valid: here 2, province 4" in different.stdout
    # a token that may not read the feed: a plain error, no traceback, exit 2
    monkeypatch.setattr(city, "_client", lambda args: province_client(served, "holder-wang"))
    refused = run_cli(city_ws, "city", "sync", *options)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: 403 not allowed: holder-wang")


def test_a_renewed_pdf_is_mirrored_with_the_file_as_filed() -> None:
    """A PDF the province renewed since (an incremental update appended) still matches the
    feed's digest through its prefix; anything else matches nothing."""
    import hashlib

    from bdcert_adapters.mirror import original_of

    filed = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
    renewed = filed + b"2 0 obj\n<<>>\nendobj\n%%EOF\n"
    digest = hashlib.sha256(filed).hexdigest()
    assert original_of(filed, digest) == filed
    assert original_of(renewed, digest) == filed
    assert original_of(renewed.replace(b"1 0 obj", b"9 0 obj"), digest) is None


def test_an_ofd_is_mirrored_beside_its_pdf(tmp_path: Path) -> None:
    """A province issuing PDF and OFD with SM2 seals (GB/T 38540): the feed says an OFD is
    filed, the mirror fetches it, checks its seal against the city's roots, and files it."""
    import shutil

    from litestar.testing import TestClient

    from bdcert.config import Workspace
    from bdcert_adapters.cli import main
    from bdcert_adapters.mirror import Mirror
    from bdcert_adapters.service import create_app
    from tests.service.conftest import use_tokens
    from tests.support import AUTHORITIES, use_database

    source = tmp_path / "sm2"
    argv = ["init", "--demo", "--algorithm", "sm2", "--workspace", str(source)]
    assert main([*argv, "--authorities", str(AUTHORITIES)]) == 0
    tokens = use_tokens(source)
    city_path = tmp_path / "city"
    shutil.copytree(source, city_path, ignore=shutil.ignore_patterns("bdcert.sqlite3*"))
    use_database(city_path, f"sqlite:///{city_path / 'bdcert.sqlite3'}")
    app = create_app(lambda: Registry.open(source, formats=("pdf", "ofd")))
    with TestClient(app) as client, Registry.open(city_path) as city:
        province = client.app.state.registry
        push(province, LINES[:1])
        served = Served(Workspace.load(source), tokens, client)
        mirror = Mirror(city, province_client(served, "registrar-510100"), authority=CHENGDU)
        (event,), _ = mirror.province.feed_page()
        assert event.has_ofd is True
        assert mirror.sync() == 1
        number = event.number
        with province.storage.transaction() as tx:
            theirs = tx.get_ofd(number)
        with city.storage.transaction() as tx:
            assert tx.get_ofd(number) == theirs
        assert [r.equal for r in mirror.reconcile()] == [True]


def test_a_seal_this_city_does_not_trust_yet_says_which_setting_to_change() -> None:
    """The first sync of a city that has not added the province's root: the error names the
    setting (``[bdcert] trust_roots``) and the file the province publishes (its trust bundle)."""
    from types import SimpleNamespace

    from bdcert.model import VerdictCode
    from bdcert_adapters.mirror import Mirror, MirrorError

    mirror = Mirror(None, SimpleNamespace(base_url="https://province"), authority=CHENGDU)  # type: ignore[arg-type]
    untrusted = SimpleNamespace(
        code=VerdictCode.UNTRUSTED_SIGNER,
        detail="the seal's signature timestamp proves no time: it is not by a timestamp "
        "authority that chains to a trust root",
        signer=None,
    )
    with pytest.raises(MirrorError) as refused:
        mirror._check_seal(SimpleNamespace(number="X"), "PDF", untrusted)  # type: ignore[arg-type]
    message = str(refused.value)
    assert "[bdcert] trust_roots" in message and "GET /api/v1/trust-bundle" in message


def test_city_sync_requires_the_authority(tmp_path: Path) -> None:
    """A mirror serves one authority (rule article 12): sync without --authority is a usage
    error (exit 2) naming the option, before anything is read."""
    from types import SimpleNamespace

    from tests.support import run_cli

    ws = SimpleNamespace(path=tmp_path)
    done = run_cli(ws, "city", "sync", "--from", "https://province", "--once")  # type: ignore[arg-type]
    assert done.returncode == 2
    assert "--authority" in done.stderr
