"""The documents plan's reference city system: bdcert itself, issuing part of its bundled example
timeline (``bdcert_adapters/examples/sichuan-2024.jsonl``) in a demo workspace.

- a PAdES workspace (ECDSA demo PKI) issues :data:`REFERENCE_LINES` of the example: both kinds,
  three authorities, 分别持证 (two certificates from one entry), supersessions, a 注销 and a
  查封 (no certificate), and the entry with the long location and notes; each as a PDF;
- an SM2 workspace (GB/T 38540 demo PKI) issues the first :data:`OFD_LINES` of them as OFD
  packages, so the OFD side of every check runs too (same numbers: numbered in the same order),
  and its SM2-sealed PDF of 成都's first certificate replaces the PAdES one (SM2 PDF seals);
- the issue time is pinned to a morning before 08:00 China time (the day before in UTC), so a
  date printed in UTC is visible (P-015).

Nothing here reads ``../shared``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import attrs

from bdcert.model import CHINA_TZ, Certificate
from bdcert_conformance.kit.model import RunOptions

__all__ = ["REFERENCE_LINES", "ReferenceDocuments", "reference_environment", "reference_run"]

#: Lines (from 1) of the bundled example issued by the reference: lines 1–20 (lines 19 and 20 are
#: 注销 and 查封) and line 30 (long values).
REFERENCE_LINES = (*range(1, 21), 30)
#: How many of them are also issued as OFD by the SM2 workspace.
OFD_LINES = 2


@attrs.define
class ReferenceDocuments:
    """The reference: ``entries`` (JSON Lines), ``documents`` (file name -> the certificate it
    is), the two workspaces with their open registries (to re-render and re-seal), the trust
    roots."""

    directory: Path
    entries: Path
    documents: Path
    trust: tuple[Path, ...]
    certificates: dict[str, Certificate]
    registry: Any  # the PAdES workspace's Registry (renderer, seal provider)
    sm2_registry: Any


def _issue_clock() -> Callable[[], datetime]:
    """Issue times from the most recent 07:40 China time (or ten minutes ago, if that is before
    07:40 today), seven seconds apart: all before 08:00, so the UTC date is the day before, and
    within the demo seal certificates' validity (from one day before the workspace is made)."""
    now = datetime.now(CHINA_TZ) - timedelta(minutes=10)
    start = now if now.time() < time(7, 40) else now.replace(hour=7, minute=40, second=0)
    start = start.replace(microsecond=0)
    ticks = itertools.count()
    return lambda: start + timedelta(seconds=7 * next(ticks))


def _example_lines() -> list[str]:
    from importlib import resources

    source = resources.files("bdcert_adapters") / "examples" / "sichuan-2024.jsonl"
    return source.read_text(encoding="utf-8").splitlines()


def _workspace(directory: Path, algorithm: str) -> None:
    import io
    from contextlib import redirect_stdout

    from bdcert_adapters.cli import main

    with redirect_stdout(io.StringIO()):
        code = main(["init", "--demo", "--workspace", str(directory), "--algorithm", algorithm])
    if code != 0:
        raise RuntimeError(f"bdcert init --demo --algorithm {algorithm} failed ({code})")


def _file_name(cert: Certificate, suffix: str) -> str:
    return f"{cert.authority_code}-{cert.kind.value}-{cert.sequence:07d}.{suffix}"


def reference_environment(stack: contextlib.ExitStack, workdir: Path) -> ReferenceDocuments:
    """Build the reference documents in ``workdir`` (about 5 seconds)."""
    from bdcert.lifecycle import Registry

    workdir.mkdir(parents=True, exist_ok=True)
    lines = _example_lines()
    chosen = [lines[i - 1] for i in REFERENCE_LINES]
    entries = workdir / "entries.jsonl"
    entries.write_text("\n".join(chosen) + "\n", encoding="utf-8")
    documents = workdir / "documents"
    documents.mkdir(exist_ok=True)
    certificates: dict[str, Certificate] = {}
    trust = []
    registries = {}
    for algorithm, formats, count in (
        ("ecdsa", ("pdf",), None),
        ("sm2", ("pdf", "ofd"), OFD_LINES),
    ):
        ws = workdir / f"workspace-{algorithm}"
        _workspace(ws, algorithm)
        trust.append(ws / "pki" / "root.cert.pem")
        # PAdES: a morning issue time (see _issue_clock); SM2: now (its GB/T 38540 seal is
        # valid from the moment the workspace was made)
        clock = _issue_clock() if algorithm == "ecdsa" else None
        registry = stack.enter_context(Registry.open(ws, clock=clock, formats=formats))
        registries[algorithm] = registry
        principal = registry.authenticate({"operator": "platform"})
        for line in chosen[:count]:
            result = registry.push(json.loads(line), principal=principal)
            for item in result.certificates:
                cert = item.certificate
                if algorithm == "ecdsa":
                    name = _file_name(cert, "pdf")
                    (documents / name).write_bytes(item.pdf)
                else:
                    if cert.sequence == 1 and cert.authority_code == "510100":
                        # an SM2 PDF seal (GM/T 0010 CMS) in place of the PAdES one
                        name = _file_name(cert, "pdf")
                        (documents / name).write_bytes(item.pdf)
                        certificates[name] = cert
                    name = _file_name(cert, "ofd")
                    assert item.ofd is not None
                    (documents / name).write_bytes(item.ofd)
                certificates[name] = cert
    return ReferenceDocuments(
        workdir,
        entries,
        documents,
        tuple(trust),
        certificates,
        registries["ecdsa"],
        registries["sm2"],
    )


def reference_run(env: ReferenceDocuments, workdir: Path) -> RunOptions:
    """Run options pointing at the reference's entries, documents and trust roots."""
    return RunOptions(
        plan="documents",
        entries=env.entries,
        documents=env.documents,
        trust=env.trust,
        system="bdcert reference",
        vendor="bdcert",
    )
