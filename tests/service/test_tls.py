"""Mutual TLS: a real ``bdcert serve --tls-cert --tls-key --client-ca`` process on loopback,
called by httpx (an independent TLS client) with certificates of the demo PKI and of another CA.

A client certificate the identity plugin maps (``[identity.client_certificates.*]``)
authenticates as its principal; API tokens still work over the same TLS port (client
certificates are optional at the TLS layer); a certificate of another CA is refused by the
handshake; no credentials at all is a 401 problem.
"""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import copy_served
from tests.service.server_process import serve

GATEWAY_SUBJECT = "CN=audit-gateway,O=bdcert demo,C=CN"


def _foreign_client_certificate(directory: Path) -> tuple[Path, Path]:
    """A CA that is not the workspace's, and a clientAuth certificate with the mapped subject."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name.from_rfc4514_string("CN=another CA,O=elsewhere,C=CN")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string(GATEWAY_SUBJECT))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "foreign.cert.pem", directory / "foreign.key.pem"
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def mtls(
    served_template: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A served workspace over HTTPS with client certificates, and the files to call it."""
    from bdcert.demo_ca import DemoCa

    base = tmp_path_factory.mktemp("tls")
    ws, tokens = copy_served(served_template, base / "ws")
    pki = ws.path / "pki"
    ca = DemoCa(pki)
    files: dict[str, Any] = {"root": pki / "root.cert.pem", "tokens": tokens}
    for label, name, client in (
        ("server", "127.0.0.1", False),
        ("gateway", "audit-gateway", True),
        ("stranger", "someone-unmapped", True),
    ):
        cert, key = ca.issue_tls_certificate(name, client=client, hosts=() if client else [name])
        (base / f"{label}.cert.pem").write_bytes(cert)
        (base / f"{label}.key.pem").write_bytes(key)
        files[label] = (base / f"{label}.cert.pem", base / f"{label}.key.pem")
    files["foreign"] = _foreign_client_certificate(base)
    with open(ws.path / "bdcert.toml", "a", encoding="utf-8") as f:
        f.write(
            '\n[identity.client_certificates."audit-gateway"]\n'
            f'subject = "{GATEWAY_SUBJECT}"\n'
            'issuer_ca = "pki/root.cert.pem"\n'
            'roles = ["auditor"]\n'
        )
    shutil.copy(files["root"], base / "client-ca.pem")
    server_cert, server_key = files["server"]
    verify = ssl.create_default_context(cafile=str(files["root"]))
    with serve(
        ws.path,
        "--tls-cert", str(server_cert), "--tls-key", str(server_key),
        "--client-ca", str(base / "client-ca.pem"),
        scheme="https",
        client_options={"verify": verify},
    ) as url:  # fmt: skip
        files["url"] = url
        yield files


def _context(files: dict[str, Any], cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files["root"]))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return context


def test_mapped_client_certificate_authenticates_as_its_principal(mtls: dict[str, Any]) -> None:
    with httpx.Client(verify=_context(mtls, mtls["gateway"])) as client:
        r = client.get(f"{mtls['url']}/api/v1/whoami")
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "audit-gateway", "roles": ["auditor"], "authority": None}


def test_token_still_works_over_tls_without_a_client_certificate(mtls: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {mtls['tokens']['platform']}"}
    with httpx.Client(verify=_context(mtls)) as client:
        r = client.get(f"{mtls['url']}/api/v1/whoami", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "platform"


def test_no_credentials_is_401_problem(mtls: dict[str, Any]) -> None:
    with httpx.Client(verify=_context(mtls)) as client:
        r = client.get(f"{mtls['url']}/api/v1/whoami")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_unmapped_certificate_of_the_right_ca_is_401(mtls: dict[str, Any]) -> None:
    with httpx.Client(verify=_context(mtls, mtls["stranger"])) as client:
        r = client.get(f"{mtls['url']}/api/v1/whoami")
    assert r.status_code == 401, r.text
    assert "not known" in r.json()["detail"]


def test_certificate_of_another_ca_is_refused(mtls: dict[str, Any]) -> None:
    """Same subject as the mapped certificate, another issuer: the handshake fails (or, with a
    TLS 1.3 server that reports the failure after the handshake, the request does)."""
    with (
        httpx.Client(verify=_context(mtls, mtls["foreign"])) as client,
        pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
    ):
        client.get(f"{mtls['url']}/api/v1/whoami")


def test_curl_with_the_client_certificate_is_the_mapped_principal(mtls: dict[str, Any]) -> None:
    """curl (its own TLS stack and command line) as the independent client."""
    import json
    import subprocess

    from tests.support import require_tool

    curl = require_tool("curl")
    cert, key = mtls["gateway"]
    out = subprocess.run(
        [curl, "-sS", "--cacert", str(mtls["root"]), "--cert", str(cert), "--key", str(key),
         "-w", "\n%{http_code}", f"{mtls['url']}/api/v1/whoami"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "200"
    assert json.loads(body)["name"] == "audit-gateway"
    anonymous = subprocess.run(
        [curl, "-sS", "--cacert", str(mtls["root"]), "-o", "/dev/null", "-w", "%{http_code}",
         f"{mtls['url']}/api/v1/whoami"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert anonymous.stdout == "401"
