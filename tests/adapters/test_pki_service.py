"""The demo PKI's trust services over HTTP on loopback (issue 9): CRL (GET), OCSP (POST),
RFC 3161 timestamps (POST), named in the certificates and used by pyHanko and by poppler.

``pdfsig`` (NSS) follows the seal certificate's OCSP URL by itself: its verdict on the
certificate is NSS's reading of this service's OCSP responses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from bdcert.demo_ca import DemoCa
from bdcert.demo_pki import DemoPki, make_demo_pki
from bdcert.model import Authority, VerdictCode
from bdcert.protocols import SealRequest
from bdcert.sealing.evidence import Evidence
from bdcert.sealing.pades import load_software_signer, seal_pdf_with_signer
from bdcert.verify.pades import check_pdf_seal
from bdcert_adapters.pki_service import make_pki_app
from bdcert_adapters.seal_service import ServiceThread
from tests.support import AUTHORITIES, pdfsig_trusting, require_shared


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, DemoPki]]:
    """The service bound first (its URL goes into the certificates), then the PKI made."""
    require_shared()
    directory = tmp_path / "pki"
    service = ServiceThread(make_pki_app(directory))
    authorities = [Authority.from_wire(a) for a in json.loads(AUTHORITIES.read_text("utf-8"))]
    pki = make_demo_pki(directory, authorities, service_url=f"{service.url}pki")
    with service as url:
        yield url, pki


def _ocsp_status(url: str, pki: DemoPki, code: str) -> Any:
    cert = x509.load_pem_x509_certificate(pki.seal[code].cert.read_bytes())
    root = x509.load_pem_x509_certificate(pki.root_cert.read_bytes())
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, root, hashes.SHA1()).build()
    answer = httpx.post(
        f"{url}pki/ocsp",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"},
    )
    assert (
        answer.status_code == 200 and answer.headers["content-type"] == "application/ocsp-response"
    )
    response = ocsp.load_der_ocsp_response(answer.content)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    key = root.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and response.signature_hash_algorithm
    key.verify(
        response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm)
    )
    return response.certificate_status


def test_the_certificates_name_the_services(served: tuple[str, DemoPki]) -> None:
    url, pki = served
    cert = x509.load_pem_x509_certificate(pki.seal["510100"].cert.read_bytes())
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [n.value for n in dp[0].full_name or ()] == [f"{url}pki/crl"]
    assert [a.access_location.value for a in aia] == [f"{url}pki/ocsp"]


def test_crl_and_ocsp_over_http_follow_a_revocation(served: tuple[str, DemoPki]) -> None:
    url, pki = served
    root = x509.load_pem_x509_certificate(pki.root_cert.read_bytes())
    crl = x509.load_der_x509_crl(httpx.get(f"{url}pki/crl").content)
    assert crl.issuer == root.subject and crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert len(crl) == 0
    assert _ocsp_status(url, pki, "510100") is ocsp.OCSPCertStatus.GOOD
    cert = x509.load_pem_x509_certificate(pki.seal["510100"].cert.read_bytes())
    DemoCa(pki.directory).revoke(cert, at=datetime.now(UTC) - timedelta(hours=1))
    assert _ocsp_status(url, pki, "510100") is ocsp.OCSPCertStatus.REVOKED
    assert _ocsp_status(url, pki, "510700") is ocsp.OCSPCertStatus.GOOD
    crl = x509.load_der_x509_crl(httpx.get(f"{url}pki/crl").content)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def test_bad_requests_get_clear_answers(served: tuple[str, DemoPki]) -> None:
    url, _ = served
    assert httpx.post(f"{url}pki/tsa", content=b"not a request").status_code == 400
    bad = ocsp.load_der_ocsp_response(httpx.post(f"{url}pki/ocsp", content=b"junk").content)
    assert bad.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert httpx.post(f"{url}pki/ocsp", content=b"x" * (70 * 1024)).status_code == 413


def test_sealing_through_the_http_tsa_and_fetched_revocation_data(
    served: tuple[str, DemoPki], plain_pdf: bytes, seal_png: bytes, tmp_path: Path
) -> None:
    """B-LTA with the timestamp from ``POST /pki/tsa`` and the CRLs and OCSP responses pyHanko
    fetches from the URLs in the certificates: valid. (Fetched OCSP responses last a day, as
    real ones do: 20 years ahead the newest timestamp's TSA status is stale unless the
    evidence is refreshed; the offline demo embeds its long-lived CRL instead.) pdfsig,
    following the OCSP URL itself, trusts the certificate, and after a revocation says so."""
    url, pki = served
    evidence = Evidence.from_settings(
        "B-LTA",
        {"url": f"{url}pki/tsa"},
        {"fetch": True},
        pki.directory,
        [pki.root_cert.read_bytes()],
    )
    authority = Authority.from_wire(json.loads(AUTHORITIES.read_text("utf-8"))[0])
    files = pki.seal[authority.code]
    signer = load_software_signer(files.key, files.cert, [pki.root_cert])
    request = SealRequest(
        authority=authority, page=0, box=(400, 60, 520, 180), appearance_png=seal_png
    )
    pdf = seal_pdf_with_signer(plain_pdf, request, signer, evidence)
    roots = [pki.root_cert.read_bytes()]
    check = check_pdf_seal(pdf, roots)
    assert check.code is VerdictCode.VALID, check.detail
    assert b"/DocTimeStamp" in pdf and b"/OCSPs" in pdf  # the fetched responses are embedded

    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    report = pdfsig_trusting(pki.root_cert, pdf, tmp_path / "before")
    assert "Certificate Validation: Certificate is Trusted." in report, report
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    DemoCa(pki.directory).revoke(cert, at=datetime.now(UTC) - timedelta(minutes=5))
    report = pdfsig_trusting(pki.root_cert, pdf, tmp_path / "after")
    assert "Certificate Validation: Certificate has been Revoked." in report, report
