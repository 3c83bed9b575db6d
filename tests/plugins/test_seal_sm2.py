"""The SM2 seal provider (bdcert_plugins.seal_sm2) and seal making (bdcert.gm.seals) refuse a
signing certificate that has expired: a seal made with it could never verify."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.sdk.test_render import AUTHORITY
from tests.support import require_module

require_module("tongsuopy", "tongsuopy (the gm extra)")

from asn1crypto import pem  # noqa: E402

from bdcert.demo_pki import make_demo_pki  # noqa: E402
from bdcert.errors import SealingError  # noqa: E402
from bdcert.gm import ses  # noqa: E402
from bdcert.gm.seals import create_authority_seal  # noqa: E402
from bdcert.gm.sm2 import SM2PrivateKey  # noqa: E402
from bdcert.gm.x509 import certificate_not_after  # noqa: E402
from bdcert.protocols import SealRequest  # noqa: E402
from bdcert_plugins.seal_sm2 import Sm2SealProvider  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def _der(path: Path) -> bytes:
    return pem.unarmor(path.read_bytes())[2]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("sm2ws")
    demo = make_demo_pki(path / "pki", [AUTHORITY], algorithm="sm2")
    files = demo.seal[AUTHORITY.code]
    return {
        "path": path,
        "root": _der(demo.root_cert),
        "root_key": SM2PrivateKey.from_pem(demo.root_key.read_bytes()),
        "cert": _der(files.cert),
        "settings": {
            "plugin": "sm2",
            "authorities": {
                AUTHORITY.code: {
                    "key": str(files.key),
                    "cert": str(files.cert),
                    "chain": [str(demo.root_cert)],
                }
            },
        },
    }


def test_a_new_seal_does_not_outlive_its_signing_certificate(
    workspace: dict[str, Any], tmp_path: Path
) -> None:
    ws = workspace
    expiry = certificate_not_after(ws["cert"])
    now = datetime.now(UTC).replace(microsecond=0)
    path = create_authority_seal(
        tmp_path, AUTHORITY, ws["root_key"], ws["root"], ws["cert"], PNG, valid_days=3650, now=now
    )
    seal = ses.parse_seal(path.read_bytes())
    assert seal.valid_start == now and seal.valid_end == expiry  # cut at notAfter, not 10 years
    short = create_authority_seal(
        tmp_path, AUTHORITY, ws["root_key"], ws["root"], ws["cert"], PNG, valid_days=30, now=now
    )
    assert ses.parse_seal(short.read_bytes()).valid_end == now + timedelta(days=30)
    with pytest.raises(SealingError, match=rf"authority {AUTHORITY.code}.*expired"):
        create_authority_seal(
            tmp_path,
            AUTHORITY,
            ws["root_key"],
            ws["root"],
            ws["cert"],
            PNG,
            now=expiry + timedelta(days=1),
        )


def test_the_provider_refuses_to_seal_with_an_expired_signing_certificate(
    workspace: dict[str, Any], tmp_path: Path
) -> None:
    """A seal (made before seals were cut at the certificate's expiry) that is still valid
    after its signing certificate expired: sealing then raises SealingError, so the issue goes
    to the backlog instead of using a number for a certificate that can never verify."""
    ws = workspace
    expiry = certificate_not_after(ws["cert"])
    now = datetime.now(UTC).replace(microsecond=0)
    seal_der = ses.make_seal(
        maker_key=ws["root_key"],
        maker_cert_der=ws["root"],
        es_id=f"{AUTHORITY.code}2024000101",
        name=AUTHORITY.name,
        signer_certs=[ws["cert"]],
        picture=ses.SealPicture("PNG", PNG, 42, 42),
        valid_start=now - timedelta(days=1),
        valid_end=expiry + timedelta(days=365),
    )
    (tmp_path / "seals").mkdir()
    (tmp_path / "seals" / f"{AUTHORITY.code}-{AUTHORITY.code}2024000101.esl").write_bytes(seal_der)
    provider = Sm2SealProvider.from_settings(ws["settings"], tmp_path)
    later = expiry + timedelta(days=2)
    pattern = rf"signing certificate of authority {AUTHORITY.code} cannot seal.*expired"
    with pytest.raises(SealingError, match=pattern):
        provider.seal_pdf(
            b"%PDF-1.7", SealRequest(AUTHORITY, 0, (0, 0, 10, 10), PNG, signing_time=later)
        )
    with pytest.raises(SealingError, match=pattern):
        provider.seal_ofd(b"", authority=AUTHORITY, page=0, box_mm=(0, 0, 1, 1), time=later)
