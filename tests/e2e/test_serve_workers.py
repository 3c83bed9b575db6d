"""``bdcert serve --workers 2`` on PostgreSQL: two worker processes issuing concurrently.

Four client threads push 16 fresh entries (one 不动产权证书 each) through ``POST
/api/v1/entries`` at once. Every entry is issued exactly once, the certificate numbers of the
authority, year and kind run 1…16 without a gap or a repeat (rule articles 5, 6, 8: the counter
is the database's, shared by the workers), each number is then readable from the service, and
both workers issued (``/metrics``, summed over the workers in multiprocess mode, counts the
pushes per worker process).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.load.entries import EntryMaker
from tests.service.conftest import use_tokens
from tests.service.server_process import serve
from tests.support import database_url, make_workspace

ENTRIES = 16
THREADS = 4
SEQUENCE = re.compile(r"第(\d{7})号$")


@pytest.fixture(scope="module")
def served_pg(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("workers")
    with database_url("postgresql", base) as url:
        make_workspace(base / "ws", url)
        tokens = use_tokens(base / "ws")
        with serve(base / "ws", "--workers", "2") as server:
            yield server, tokens


def _push_all(url: str, token: str) -> list[httpx.Response]:
    maker = EntryMaker()
    headers = {"Authorization": f"Bearer {token}"}

    def push(n: int) -> httpx.Response:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            return client.post("/api/v1/entries", json=maker.entry(n))

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(push, range(ENTRIES)))


def test_two_workers_issue_every_entry_once_with_contiguous_numbers(served_pg: Any) -> None:
    url, tokens = served_pg
    responses = _push_all(url, tokens["registrar-510100"])
    assert [r.status_code for r in responses] == [201] * ENTRIES, [
        r.text for r in responses if r.status_code != 201
    ][:3]
    numbers = [n for r in responses for n in r.json()["numbers"]]
    assert len(numbers) == ENTRIES == len(set(numbers))
    sequence = sorted(int(SEQUENCE.search(n).group(1)) for n in numbers)  # type: ignore[union-attr]
    assert sequence == list(range(1, ENTRIES + 1))

    headers = {"Authorization": f"Bearer {tokens['platform']}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for number in numbers[:5]:
            r = client.get(f"/api/v1/certificates/{number}")
            assert r.status_code == 200, r.text

        metrics = client.get("/metrics").text
    pids = set()
    issued = 0.0
    for family in text_string_to_metric_families(metrics):
        for s in family.samples:
            if s.name == "bdcert_http_requests_total" and s.labels["path"] == "/api/v1/entries":
                pids.add(s.labels["worker"])
            if s.name == "bdcert_certificates_issued_total" and s.labels["authority"] == "510100":
                issued += s.value
    assert len(pids) == 2, pids  # both workers answered requests
    assert issued == ENTRIES  # counted in both workers, summed by /metrics


def test_a_replayed_push_answers_the_same_numbers_in_either_worker(served_pg: Any) -> None:
    url, tokens = served_pg
    maker = EntryMaker()
    headers = {"Authorization": f"Bearer {tokens['registrar-510100']}"}
    entry = maker.entry(1)
    answers = []
    for _ in range(4):  # new connections: the kernel spreads them over the workers
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            answers.append(client.post("/api/v1/entries", json=entry))
    assert answers[0].status_code == 201
    assert [a.status_code for a in answers[1:]] == [200, 200, 200]
    assert {a.json()["outcome"] for a in answers[1:]} == {"replayed"}
    assert {tuple(a.json()["numbers"]) for a in answers} == {tuple(answers[0].json()["numbers"])}
