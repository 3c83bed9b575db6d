"""Fresh registration-book entries for load and concurrency runs: the shape of the sample's
first entry (a 首次登记 of a flat, one 权利人, one 不动产权证书) with a unique ``ywh`` and a unique
不动产单元号 (GB/T 37346-2019) each, so every push issues exactly one new certificate."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

__all__ = ["SAMPLE", "EntryMaker"]

#: The sample timeline shipped with the adapters (its first line is the template).
SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "adapters"
    / "bdcert_adapters"
    / "examples"
    / "sichuan-2024.jsonl"
)


class EntryMaker:
    """Makes entry ``n`` of a run: ``ywh`` ``<djjg>-LOAD<run>-<n>``, unit
    ``<county><district>GB<parcel>F<n+1:08d>`` with a parcel number drawn per run.

    :param run: a tag making this run's numbers differ from other runs' (default random).
    """

    def __init__(self, run: str | None = None) -> None:
        with SAMPLE.open(encoding="utf-8") as f:
            self.template: dict[str, Any] = json.loads(f.readline())
        self.run = run or secrets.token_hex(3).upper()
        self.parcel = f"{secrets.randbelow(10**5):05d}"

    def entry(self, n: int) -> dict[str, Any]:
        """Entry number ``n`` (0 <= n < 10**8) of this run, a fresh dict."""
        raw = json.loads(json.dumps(self.template))
        raw["ywh"] = f"{raw['djjg']}-LOAD{self.run}-{n:08d}"
        unit = raw["bdcdyh"][0]
        raw["bdcdyh"] = [f"{unit[:14]}{self.parcel}F{n + 1:08d}"]
        return raw
