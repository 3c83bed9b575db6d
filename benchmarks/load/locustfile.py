"""Locust users of the load run (``benchmarks/load/run.sh``): a closed loop of pushes, uploads
for verification and lookups by QR token against ``bdcert serve``.

Environment: ``BDCERT_LOAD_REGISTRAR`` (a registrar-510100 API token, for pushes) and
``BDCERT_LOAD_PLATFORM`` (the platform's, for preparation and lookups).

- ``push``: ``POST /api/v1/entries``, a fresh entry each time (:class:`EntryMaker`: unique
  ``ywh`` and unit number), so every push seals and files a new certificate;
- ``verify``: ``POST /api/v1/verify`` of one of the PDFs issued while preparing;
- ``lookup``: ``GET /api/v1/lookup?token=…`` of one of those certificates.
"""

from __future__ import annotations

import itertools
import os
import random
from typing import Any
from urllib.parse import quote

from locust import HttpUser, constant, events, task

from benchmarks.load.entries import EntryMaker

MAKER = EntryMaker()
NUMBERS = itertools.count(1)
POOL: dict[str, list[Any]] = {"pdfs": [], "tokens": []}
PREPARED = 4


def _auth(variable: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ[variable]}"}


@events.test_start.add_listener
def prepare(environment: Any, **_: Any) -> None:
    """Issue a few certificates and keep their PDFs and QR tokens for verify and lookup."""
    import httpx

    with httpx.Client(base_url=environment.host, timeout=300) as client:
        for _ in range(PREPARED):
            r = client.post(
                "/api/v1/entries",
                json=MAKER.entry(next(NUMBERS)),
                headers=_auth("BDCERT_LOAD_REGISTRAR"),
            )
            r.raise_for_status()
            number = quote(r.json()["numbers"][0], safe="")
            platform = _auth("BDCERT_LOAD_PLATFORM")
            pdf = client.get(f"/api/v1/certificates/{number}/pdf", headers=platform)
            pdf.raise_for_status()
            POOL["pdfs"].append(pdf.content)
            view = client.get(f"/api/v1/certificates/{number}", headers=platform)
            view.raise_for_status()
            POOL["tokens"].append(view.json()["verification_url"].rsplit("/", 1)[-1])


class Caller(HttpUser):
    """One caller in a closed loop (no think time): 2 pushes : 3 verifications : 5 lookups."""

    wait_time = constant(0)

    @task(2)
    def push(self) -> None:
        self.client.post(
            "/api/v1/entries",
            json=MAKER.entry(next(NUMBERS)),
            headers=_auth("BDCERT_LOAD_REGISTRAR"),
            name="push",
        )

    @task(3)
    def verify(self) -> None:
        self.client.post(
            "/api/v1/verify",
            data=random.choice(POOL["pdfs"]),
            headers={"Content-Type": "application/pdf"},
            name="verify",
        )

    @task(5)
    def lookup(self) -> None:
        self.client.get(
            "/api/v1/lookup",
            params={"token": random.choice(POOL["tokens"])},
            headers=_auth("BDCERT_LOAD_PLATFORM"),
            name="lookup",
        )
