"""What every benchmark starts from: a demo workspace and the first sample entry, rendered."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from bdcert.face import face_items
from bdcert.lifecycle import Registry
from bdcert.model import Authority, CertificateKind, FaceItem, RegistrationEntry
from bdcert.protocols import SealRequest
from bdcert.render import RenderedCertificate
from bdcert.validation import parse_entry

EXAMPLES = Path(__file__).resolve().parents[1] / "adapters" / "bdcert_adapters" / "examples"
NUMBER = "川(2024)成都市不动产权第0000001号"
URL = "https://verify.bdcert.invalid/v/x"


def first_entry() -> dict[str, Any]:
    """The first line of the bundled sample timeline (a property certificate with 附图)."""
    lines = (EXAMPLES / "sichuan-2024.jsonl").read_text(encoding="utf-8").splitlines()
    return json.loads(lines[0])  # type: ignore[no-any-return]


def make_workspace(directory: Path, algorithm: str = "ecdsa") -> Path:
    from bdcert_adapters.cli import main

    assert main(["init", "--demo", "--algorithm", algorithm, "--workspace", str(directory)]) == 0
    return directory


@attrs.define(frozen=True)
class Sample:
    """The first entry rendered as an unsealed property certificate, ready to seal."""

    entry: RegistrationEntry
    authority: Authority
    face: tuple[FaceItem, ...]
    rendered: RenderedCertificate
    request: SealRequest

    def render_args(self) -> dict[str, Any]:
        """The keyword arguments the PDF renderer and the OFD writer both take."""
        return {
            "kind": CertificateKind.PROPERTY_CERTIFICATE,
            "face": self.face,
            "verification_url": URL,
            "authority": self.authority,
            "licence_id": "x",
            "attached_plan": self.entry.attached_plan,
        }


def render_sample(registry: Registry, *, signing_time: datetime | None = None) -> Sample:
    entry = parse_entry(first_entry(), authorities=registry.authorities, codes=registry.codes)
    authority = registry.authorities[entry.authority_code]
    face = face_items(
        entry,
        kind=CertificateKind.PROPERTY_CERTIFICATE,
        number=NUMBER,
        holders=entry.holders,
        authority=authority,
        issued_at=signing_time or entry.recorded_at,
        codes=registry.codes,
    )
    rendered = registry.renderer.render(
        kind=CertificateKind.PROPERTY_CERTIFICATE,
        face=face,
        verification_url=URL,
        authority=authority,
        licence_id="x",
        attached_plan=entry.attached_plan,
    )
    return Sample(entry, authority, face, rendered, rendered.seal_request(authority, signing_time))
