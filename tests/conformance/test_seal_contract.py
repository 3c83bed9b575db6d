"""The conformance kit's seal-provider contract, run against the built-in software provider, a
:class:`bdcert.DigestSealProvider` subclass, and the tutorial's provider; and shown to fail on a
provider that makes the seal the issue describes (invisible, no DocMDP lock, the wrong time)."""

from __future__ import annotations

import importlib.util
import io
import sys
from types import ModuleType
from typing import Any

import pytest

from bdcert.demo_pki import DemoPki, make_demo_pki
from bdcert.model import Authority
from bdcert.protocols import SealRequest
from bdcert_conformance import SealProviderContract
from bdcert_conformance.seal import (
    SIGNING_TIME,
    check_bdcert_accepts,
    check_docmdp_lock,
    check_one_signature_covering_the_file,
    check_signer_certificate_pem,
    check_signing_time,
    check_visible_seal,
    render_certificate,
)
from tests.sdk.test_digest_seal_provider import AUTHORITY, KeyElsewhere
from tests.support import REPO

TUTORIAL = REPO / "docs" / "examples" / "seal_provider_tutorial"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return make_demo_pki(tmp_path_factory.mktemp("pki"), [AUTHORITY])


class DemoPkiFixtures:
    @pytest.fixture
    def authority(self) -> Authority:
        return AUTHORITY

    @pytest.fixture
    def trust_roots_pem(self, pki: DemoPki) -> list[bytes]:
        return [pki.root_cert.read_bytes()]


class TestSoftwareSealProvider(DemoPkiFixtures, SealProviderContract):
    @pytest.fixture
    def seal_provider(self, pki: DemoPki) -> Any:
        from bdcert_plugins.seal_software import SoftwareSealProvider

        files = pki.seal[AUTHORITY.code]
        return SoftwareSealProvider.from_settings(
            {
                "authorities": {
                    AUTHORITY.code: {
                        "key": str(files.key),
                        "cert": str(files.cert),
                        "chain": [str(pki.root_cert)],
                    }
                }
            },
            pki.directory,
        )


class TestDigestSealProviderSubclass(DemoPkiFixtures, SealProviderContract):
    @pytest.fixture
    def seal_provider(self, pki: DemoPki) -> Any:
        return KeyElsewhere(pki)


def load_tutorial_module() -> ModuleType:
    """``acme_seal`` from docs/examples/seal_provider_tutorial, as ``pip install -e`` would."""
    spec = importlib.util.spec_from_file_location("acme_seal", TUTORIAL / "acme_seal.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("acme_seal", module)
    spec.loader.exec_module(module)
    return module


class TestTutorialSealProvider(DemoPkiFixtures, SealProviderContract):
    @pytest.fixture
    def seal_provider(self, pki: DemoPki) -> Any:
        # the demo PKI's file names are the ones the tutorial's stand-in reads
        return load_tutorial_module().make_provider({"key_dir": "."}, pki.directory)


# --------------------------------------------------------------------------- the contract has teeth


def sloppy_seal(pki: DemoPki, pdf: bytes, field_name: str = "bdcert-seal") -> bytes:
    """What a provider written from the old docs made (issue 8): pyHanko's defaults, an
    invisible approval signature, no DocMDP lock, signed now."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    files = pki.seal[AUTHORITY.code]
    signer = signers.SimpleSigner.load(
        str(files.key), str(files.cert), ca_chain_files=(str(pki.root_cert),)
    )
    assert signer is not None
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name=field_name),
        signer=signer,
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def certificate() -> tuple[bytes, SealRequest]:
    return render_certificate(AUTHORITY)


def test_the_checks_fail_on_an_invisible_unlocked_seal_at_the_wrong_time(
    pki: DemoPki, certificate: tuple[bytes, SealRequest]
) -> None:
    pdf, request = certificate
    sealed = sloppy_seal(pki, pdf)
    check_one_signature_covering_the_file(sealed)  # this much it gets right
    check_signer_certificate_pem(sealed, pki.seal[AUTHORITY.code].cert.read_bytes())
    with pytest.raises(AssertionError, match="seal widget is at"):
        check_visible_seal(sealed, request)
    with pytest.raises(AssertionError, match="DocMDP"):
        check_docmdp_lock(sealed)
    with pytest.raises(AssertionError, match="/M is"):
        check_signing_time(sealed, SIGNING_TIME)
    with pytest.raises(AssertionError, match="bdcert"):
        check_bdcert_accepts(sealed, [pki.root_cert.read_bytes()], SIGNING_TIME)


def test_the_checks_fail_on_two_signatures_a_foreign_signer_and_a_chain_for_a_pem(
    pki: DemoPki, certificate: tuple[bytes, SealRequest]
) -> None:
    from bdcert_conformance.seal import check_chains_to_trust_roots

    pdf, _ = certificate
    sealed = sloppy_seal(pki, pdf)
    twice = sloppy_seal(pki, sealed, field_name="second")
    with pytest.raises(AssertionError, match="exactly one signature"):
        check_one_signature_covering_the_file(twice)
    other = make_demo_pki(pki.directory / "other", [AUTHORITY])
    with pytest.raises(AssertionError, match="chain"):
        check_chains_to_trust_roots(sealed, [other.root_cert.read_bytes()])
    chain = pki.seal[AUTHORITY.code].cert.read_bytes() + pki.root_cert.read_bytes()
    with pytest.raises(AssertionError, match="more than one PEM block"):
        check_signer_certificate_pem(sealed, chain)
    with pytest.raises(AssertionError, match="not the certificate that signed"):
        check_signer_certificate_pem(sealed, other.seal[AUTHORITY.code].cert.read_bytes())
