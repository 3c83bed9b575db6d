"""The remote seal provider and the reference e-seal service, over real HTTP on 127.0.0.1.

Independent checks: poppler's ``pdfsig`` and pyHanko's validator on PDFs sealed through the
service; ``jsonschema`` checks real answers against the OpenAPI document. Every server listens
on 127.0.0.1 only, on a free port, and is stopped by the fixture that started it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bdcert.demo_pki import DemoPki, make_demo_pki
from bdcert.errors import ConfigurationError, SealingError, SealServiceUnavailable
from bdcert.model import CHINA_TZ, Authority, VerdictCode
from bdcert.protocols import SealProvider, SealRequest
from bdcert.signatures import check_pdf_seal
from bdcert_adapters import seal_service
from bdcert_adapters.seal_service import (
    ServiceThread,
    SoftwareSignerSource,
    make_app,
    parse_tokens,
    signer_source_from_workspace,
)
from bdcert_plugins import seal_remote
from bdcert_plugins.seal_remote import RemoteSealProvider, RemoteSettings
from tests.support import REPO, make_workspace, require_tool, run_tool

AUTHORITY = Authority(
    code="510100",
    name="成都市不动产登记中心",
    province_abbr="川",
    place_name="成都市",
    credit_code="12510100MB1C7A3X2H",
    division_code="510100",
)
SIGNING_TIME = datetime(2024, 5, 6, 10, 30, tzinfo=CHINA_TZ)
TOKEN = "city-token.4b1f9c2e7d~secret"
TOKEN_ENV = "BDCERT_TEST_SEAL_SERVICE_TOKEN"
SPEC = REPO / "adapters" / "bdcert_adapters" / "seal_service.openapi.yaml"
FAST = {"retries": 2, "backoff": 0.01, "max_backoff": 0.05, "timeout": 2}


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """ASGI wrapper around the service: records each request; for tests, can answer the next
    sign requests with an error status or delay them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, str]] = []
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.delay = 0.0

    def reset(self) -> None:
        self.requests.clear()
        self.failures.clear()
        self.delay = 0.0

    def count(self, suffix: str) -> int:
        return sum(1 for _, path in self.requests if path.endswith(suffix))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"]))
            if scope["path"].endswith("/sign"):
                if self.failures:
                    from starlette.responses import JSONResponse

                    status, headers = self.failures.pop(0)
                    busy = {"error": "busy", "message": "try later"}
                    await JSONResponse(busy, status_code=status, headers=headers)(
                        scope, receive, send
                    )
                    return
                if self.delay:
                    await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


def software_settings() -> dict[str, Any]:
    return {
        "authorities": {
            "510100": {
                "key": "pki/510100.key.pem",
                "cert": "pki/510100.cert.pem",
                "chain": ["pki/root.cert.pem"],
            }
        }
    }


def remote(url: str, workspace: Path, **settings: Any) -> RemoteSealProvider:
    return RemoteSealProvider.from_settings(
        {"plugin": "remote", "url": url, "token_env": TOKEN_ENV, **settings}, workspace
    )


def validate_pyhanko(pdf: bytes, root: Path) -> Any:
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    (sig,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    context = ValidationContext(
        trust_roots=[load_cert_from_pemder(str(root))], allow_fetching=False
    )
    status = validate_pdf_signature(sig, context)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    return status


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("remote")


@pytest.fixture(scope="module")
def pki(workspace: Path) -> DemoPki:
    return make_demo_pki(workspace / "pki", [AUTHORITY])


@pytest.fixture(scope="module")
def source(pki: DemoPki, workspace: Path) -> SoftwareSignerSource:
    return SoftwareSignerSource.from_settings(software_settings(), workspace)


@pytest.fixture(scope="module")
def service(source: SoftwareSignerSource) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(make_app(source, {"chengdu": TOKEN}))
    with ServiceThread(recorder) as url:
        yield url, recorder


@pytest.fixture
def url(service: tuple[str, Recorder]) -> str:
    return service[0]


@pytest.fixture
def recorder(service: tuple[str, Recorder]) -> Iterator[Recorder]:
    service[1].reset()
    yield service[1]
    service[1].reset()


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.fixture(scope="module")
def request_(seal_png: bytes) -> SealRequest:
    return SealRequest(
        authority=AUTHORITY,
        page=0,
        box=(400.0, 60.0, 520.0, 180.0),
        appearance_png=seal_png,
        location="成都市",
        signing_time=SIGNING_TIME,
    )


# --------------------------------------------------------------------------- sealing


def test_sealed_through_the_service_passes_pdfsig_pyhanko_and_our_check(
    url: str,
    recorder: Recorder,
    workspace: Path,
    pki: DemoPki,
    plain_pdf: bytes,
    request_: SealRequest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="bdcert.seal_service")
    with remote(url, workspace) as provider:
        assert isinstance(provider, SealProvider)
        pdf = provider.seal_pdf(plain_pdf, request_)
        second = provider.seal_pdf(plain_pdf, attrs.evolve(request_, signing_time=None))
    path = tmp_path / "sealed.pdf"
    path.write_bytes(pdf)

    require_tool("pdfsig")
    out = run_tool("pdfsig", "-nocert", path)
    assert out.returncode == 0, out.stderr
    assert "Signature is Valid" in out.stdout
    assert "Total document signed" in out.stdout
    assert out.stdout.count("Signature #") == 1

    status = validate_pyhanko(pdf, pki.root_cert)
    assert status.md_algorithm == "sha256"
    assert status.signer_reported_dt == SIGNING_TIME

    root = pki.root_cert.read_bytes()
    check = check_pdf_seal(pdf, [root])
    assert check.code is VerdictCode.VALID, check.detail
    assert check.signer is not None and AUTHORITY.credit_code in check.signer
    assert check.signed_revision_sha256 == hashlib.sha256(pdf).hexdigest()
    assert check_pdf_seal(second, [root]).code is VerdictCode.VALID

    # the certificate is fetched once; each seal is one signing request
    assert recorder.count("/certificate") == 1
    assert recorder.count("/sign") == 2
    # the audit trail names authority and client, never the token
    audit = [r.getMessage() for r in caplog.records if r.name == "bdcert.seal_service"]
    signed = [m for m in audit if m.startswith("signed ")]
    assert len(signed) == 2
    assert "authority=510100" in signed[0] and "client=chengdu" in signed[0]
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_signer_certificate_is_the_seal_certificate(
    url: str, workspace: Path, pki: DemoPki
) -> None:
    with remote(url, workspace) as provider:
        assert provider.signer_certificate_pem("510100") == pki.seal["510100"].cert.read_bytes()
        signer = provider.signer_for("510100")
        assert provider.signer_for("510100") is signer  # cached
        assert signer.algorithm == "ecdsa"


def test_sealing_works_inside_a_running_event_loop(
    url: str, workspace: Path, pki: DemoPki, plain_pdf: bytes, request_: SealRequest
) -> None:
    async def handler() -> VerdictCode:  # e.g. an async web framework's request handler
        with remote(url, workspace) as provider:
            pdf = provider.seal_pdf(plain_pdf, request_)
        return check_pdf_seal(pdf, [pki.root_cert.read_bytes()]).code

    assert asyncio.run(handler()) is VerdictCode.VALID


def test_registered_through_the_hook_and_entry_point() -> None:
    from bdcert.plugins import Hooks, make_plugin_manager

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(seal_remote)
    assert Hooks(pm).seal_providers().get("remote") == RemoteSealProvider.from_settings
    loaded = {getattr(p, "__name__", "") for p in make_plugin_manager().get_plugins()}
    assert "bdcert_plugins.seal_remote" in loaded
    assert RemoteSealProvider.name == "remote"


# --------------------------------------------------------------------------- refusals (no retry)


def test_a_wrong_token_is_refused_once_without_retry(
    url: str,
    recorder: Recorder,
    workspace: Path,
    plain_pdf: bytes,
    request_: SealRequest,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "a-wrong-token-that-is-long-enough"
    monkeypatch.setenv(TOKEN_ENV, wrong)
    with remote(url, workspace, **FAST) as provider, pytest.raises(SealingError) as info:
        provider.seal_pdf(plain_pdf, request_)
    assert not isinstance(info.value, SealServiceUnavailable)
    assert "rejected the token" in str(info.value)
    assert TOKEN_ENV in str(info.value)
    assert wrong not in str(info.value) and wrong not in repr(provider)
    assert recorder.requests == [("GET", "/v1/authorities/510100/certificate")]
    assert all(wrong not in r.getMessage() for r in caplog.records)


def test_a_token_that_cannot_be_sent_is_named_not_shown(
    url: str,
    recorder: Recorder,
    workspace: Path,
    plain_pdf: bytes,
    request_: SealRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "城市令牌-not-ascii-0123456789")
    with remote(url, workspace) as provider, pytest.raises(SealingError, match=TOKEN_ENV) as info:
        provider.seal_pdf(plain_pdf, request_)
    assert "城市令牌" not in str(info.value)
    assert recorder.requests == []


def test_a_missing_token_is_named_before_any_request(
    url: str,
    recorder: Recorder,
    workspace: Path,
    plain_pdf: bytes,
    request_: SealRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    with remote(url, workspace) as provider, pytest.raises(SealingError, match=TOKEN_ENV):
        provider.seal_pdf(plain_pdf, request_)
    assert recorder.requests == []


def test_an_unknown_authority_is_named(
    url: str, recorder: Recorder, workspace: Path, plain_pdf: bytes, request_: SealRequest
) -> None:
    other = attrs.evolve(request_, authority=attrs.evolve(AUTHORITY, code="510700"))
    with remote(url, workspace, **FAST) as provider:
        with pytest.raises(SealingError, match="no seal for authority 510700") as info:
            provider.seal_pdf(plain_pdf, other)
        assert not isinstance(info.value, SealServiceUnavailable)
    assert recorder.count("/certificate") == 1


def test_a_wrong_base_url_says_so(url: str, workspace: Path) -> None:
    with (
        remote(url + "nothing-here/", workspace) as provider,
        pytest.raises(SealingError, match=r"HTTP 404.*base URL"),
    ):
        provider.signer_certificate_pem("510100")


def test_a_signature_that_does_not_verify_is_refused_and_forgets_the_certificate(
    pki: DemoPki, workspace: Path, plain_pdf: bytes, request_: SealRequest
) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req.url.path)
        assert req.headers["authorization"] == f"Bearer {TOKEN}"
        if req.url.path.endswith("/certificate"):
            return httpx.Response(
                200,
                json={
                    "certificate": pki.seal["510100"].cert.read_text(),
                    "chain": [pki.root_cert.read_text()],
                    "algorithm": "ecdsa",
                },
            )
        body = json.loads(req.content)
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        forged = other_key.sign(
            base64.b64decode(body["digest"]), ec.ECDSA(Prehashed(hashes.SHA256()))
        )
        return httpx.Response(
            200,
            json={
                "signature": base64.b64encode(forged).decode(),
                "algorithm": "ecdsa",
                "digest_algorithm": "sha256",
            },
        )

    settings = RemoteSettings.from_settings(
        {"url": "http://127.0.0.1:9/", "token_env": TOKEN_ENV}, workspace
    )
    provider = RemoteSealProvider(settings, transport=httpx.MockTransport(handler))
    with pytest.raises(SealingError, match="does not verify"):
        provider.seal_pdf(plain_pdf, request_)
    assert "510100" not in repr(provider)  # forgotten: fetched again next time
    assert calls == ["/v1/authorities/510100/certificate", "/v1/authorities/510100/sign"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"certificate": "nope", "chain": [], "algorithm": "ecdsa"}, "not a PEM certificate"),
        ({"chain": [], "algorithm": "ecdsa"}, "not a PEM certificate"),
        ("cert", "algorithm 'rsa' does not match"),
    ],
)
def test_a_malformed_certificate_answer_is_a_sealing_error(
    pki: DemoPki, workspace: Path, answer: Any, message: str
) -> None:
    if answer == "cert":
        answer = {
            "certificate": pki.seal["510100"].cert.read_text(),
            "chain": [],
            "algorithm": "rsa",
        }
    transport = httpx.MockTransport(lambda req: httpx.Response(200, json=answer))
    settings = RemoteSettings.from_settings(
        {"url": "http://localhost/", "token_env": TOKEN_ENV}, workspace
    )
    with pytest.raises(SealingError, match=message):
        RemoteSealProvider(settings, transport=transport).signer_certificate_pem("510100")


# --------------------------------------------------------------------------- down, slow, busy


def test_a_service_that_is_down_is_unavailable_quickly(
    workspace: Path, plain_pdf: bytes, request_: SealRequest
) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    started = time.monotonic()
    with remote(url, workspace, **FAST) as provider, pytest.raises(SealServiceUnavailable) as info:
        provider.seal_pdf(plain_pdf, request_)
    assert time.monotonic() - started < 5
    assert isinstance(info.value, SealingError)
    assert info.value.url == url
    assert info.value.retry_after is None
    assert "3 attempts" in str(info.value) and "cannot reach" in str(info.value)
    assert TOKEN not in str(info.value)


def test_a_slow_service_is_unavailable_after_the_timeout(
    url: str, recorder: Recorder, workspace: Path, plain_pdf: bytes, request_: SealRequest
) -> None:
    recorder.delay = 1.5  # every signing request takes longer than the client waits
    started = time.monotonic()
    with remote(url, workspace, retries=1, backoff=0.01, timeout=0.25) as provider:
        provider.signer_certificate_pem("510100")  # answered at once
        with pytest.raises(SealServiceUnavailable, match=r"no answer within 0\.25 s"):
            provider.seal_pdf(plain_pdf, request_)
    assert time.monotonic() - started < 1.4
    assert recorder.count("/sign") == 2


@pytest.mark.parametrize("status", [503, 429, 502])
def test_a_busy_service_is_retried_until_it_signs(
    url: str,
    recorder: Recorder,
    workspace: Path,
    pki: DemoPki,
    plain_pdf: bytes,
    request_: SealRequest,
    status: int,
) -> None:
    recorder.failures.append((status, {"Retry-After": "0"}))
    with remote(url, workspace, **FAST) as provider:
        pdf = provider.seal_pdf(plain_pdf, request_)
    assert check_pdf_seal(pdf, [pki.root_cert.read_bytes()]).code is VerdictCode.VALID
    assert recorder.count("/sign") == 2


def test_retry_after_is_honoured_and_reported(
    url: str, recorder: Recorder, workspace: Path, plain_pdf: bytes, request_: SealRequest
) -> None:
    waits: list[float] = []
    settings = RemoteSettings.from_settings(
        {"url": url, "token_env": TOKEN_ENV, "retries": 3, "max_backoff": 5}, workspace
    )
    # Retry-After within max_backoff: waited as asked (the sleep is recorded, not slept)
    recorder.failures[:] = [(503, {"Retry-After": "2"}), (503, {"Retry-After": "3"})]
    with RemoteSealProvider(settings, sleep=waits.append) as provider:
        provider.seal_pdf(plain_pdf, request_)
    assert waits == [2.0, 3.0]
    # longer than max_backoff: no retry, the caller learns how long to wait
    recorder.reset()
    recorder.failures[:] = [(503, {"Retry-After": "120"})]
    with (
        RemoteSealProvider(settings, sleep=waits.append) as provider,
        pytest.raises(SealServiceUnavailable) as info,
    ):
        provider.seal_pdf(plain_pdf, request_)
    assert info.value.retry_after == 120
    assert "1 attempt " in str(info.value)
    assert recorder.count("/sign") == 1
    assert waits == [2.0, 3.0]


def test_backoff_is_exponential_with_jitter(
    workspace: Path, plain_pdf: bytes, request_: SealRequest
) -> None:
    waits: list[float] = []
    settings = RemoteSettings.from_settings(
        {
            "url": f"http://127.0.0.1:{free_port()}/",
            "token_env": TOKEN_ENV,
            "retries": 4,
            "backoff": 1,
            "max_backoff": 3,
        },
        workspace,
    )
    with (
        RemoteSealProvider(settings, sleep=waits.append) as provider,
        pytest.raises(SealServiceUnavailable, match="5 attempts"),
    ):
        provider.signer_certificate_pem("510100")
    assert len(waits) == 4
    assert len(set(waits)) == 4  # random, not a fixed schedule
    for n, wait in enumerate(waits, start=1):
        assert 0 <= wait <= min(3, 2 ** (n - 1))  # full jitter below backoff·2ⁿ⁻¹, capped


# --------------------------------------------------------------------------- mutual TLS


def _tls_files(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all ECDSA P-256."""
    from ipaddress import ip_address

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem: str, key: Any, cert: x509.Certificate) -> None:
        (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{stem}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("seal service test CA"))
        .issuer_name(name("seal service test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write("ca", ca_key, ca)
    for stem, usage, san in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH, x509.IPAddress(ip_address("127.0.0.1"))),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH, x509.DNSName("city.example")),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(stem))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        write(stem, key, cert)
    return {s: directory / f"{s}.pem" for s in ("ca", "server", "client")}


def test_mutual_tls_alone_authenticates(
    source: SoftwareSignerSource,
    workspace: Path,
    pki: DemoPki,
    plain_pdf: bytes,
    request_: SealRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = _tls_files(workspace / "tls")
    monkeypatch.delenv(TOKEN_ENV)
    app = make_app(source, {}, mutual_tls=True)
    tls = {
        "ssl_certfile": str(files["server"]),
        "ssl_keyfile": str(workspace / "tls" / "server.key"),
        "ssl_ca_certs": str(files["ca"]),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }
    with ServiceThread(app, **tls) as url:
        assert url.startswith("https://127.0.0.1:")
        client = {
            "ca_cert": "tls/ca.pem",
            "client_cert": "tls/client.pem",
            "client_key": "tls/client.key",
        }
        with remote(url, workspace, **client) as provider:
            pdf = provider.seal_pdf(plain_pdf, request_)
        assert check_pdf_seal(pdf, [pki.root_cert.read_bytes()]).code is VerdictCode.VALID

        # no client certificate: the server ends the TLS 1.3 handshake by closing the connection,
        # which a client cannot tell from a crash; the message hints at the client certificate
        with remote(url, workspace, ca_cert="tls/ca.pem", retries=0) as provider:
            monkeypatch.setenv(TOKEN_ENV, TOKEN)
            with pytest.raises(SealingError, match="client_cert"):
                provider.signer_certificate_pem("510100")
        # a server certificate the client does not trust: a TLS error, not retried
        with remote(url, workspace, **FAST) as provider:
            with pytest.raises(SealingError, match="TLS") as info:
                provider.signer_certificate_pem("510100")
            assert not isinstance(info.value, SealServiceUnavailable)


# --------------------------------------------------------------------------- the service's API


def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def documented(api: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the OpenAPI document gives for one answer (fails if undocumented)."""
    responses = api["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which is undocumented"
    response = responses[str(status)]
    if "$ref" in response:
        response = api["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def check_answer(api: dict[str, Any], template: str, response: httpx.Response) -> Any:
    from jsonschema import Draft202012Validator

    request = response.request
    schema = documented(api, template, request.method, response.status_code)
    body = response.json()
    Draft202012Validator({**schema, "components": api["components"]}).validate(body)
    return body


def test_the_openapi_document_matches_the_routes() -> None:
    from jsonschema import Draft202012Validator

    api = spec()
    assert api["openapi"].startswith("3.1")
    for schema in api["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    app = make_app(SoftwareSignerSource({}), {"x": TOKEN})
    routes = {
        (route.path, method)
        for route in app.routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    documented_ops = {
        (path, method.upper())
        for path, item in api["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert routes == documented_ops
    for path, item in api["paths"].items():
        for method, op in item.items():
            public = op.get("security") == []
            assert public == path.endswith("/health"), (path, method)
            if not public:
                assert "401" in op["responses"]


def test_real_answers_match_the_openapi_document(url: str, pki: DemoPki) -> None:
    api = spec()
    cert = "/v1/authorities/{code}/certificate"
    sign = "/v1/authorities/{code}/sign"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    digest = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    with httpx.Client(base_url=url, timeout=5, trust_env=False) as http:
        body = check_answer(api, "/v1/health", http.get("v1/health"))
        assert body["status"] == "ok"

        body = check_answer(api, cert, http.get("v1/authorities/510100/certificate", headers=auth))
        assert body["certificate"] == pki.seal["510100"].cert.read_text()
        assert body["chain"] == [pki.root_cert.read_text()]
        assert body["algorithm"] == "ecdsa"

        answer = http.post(
            "v1/authorities/510100/sign",
            headers=auth,
            json={"digest_algorithm": "sha256", "digest": digest},
        )
        body = check_answer(api, sign, answer)
        assert body["algorithm"] == "ecdsa" and body["digest_algorithm"] == "sha256"
        # an independent check of the raw signature: cryptography, with the certificate's key
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        public = x509.load_pem_x509_certificate(pki.seal["510100"].cert.read_bytes()).public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(
            base64.b64decode(body["signature"]),
            base64.b64decode(digest),
            ec.ECDSA(Prehashed(hashes.SHA256())),
        )

        # refusals
        for answer in (
            http.get("v1/authorities/510100/certificate"),
            http.get(
                "v1/authorities/510100/certificate", headers={"Authorization": "Bearer wrong"}
            ),
            http.post("v1/authorities/510100/sign", json={"digest": digest}),
        ):
            assert answer.status_code == 401
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            check_answer(api, cert if answer.request.method == "GET" else sign, answer)
        answer = http.get("v1/authorities/510999/certificate", headers=auth)
        assert answer.status_code == 404
        assert check_answer(api, cert, answer)["error"] == "unknown_authority"
        answer = http.post(
            "v1/authorities/510999/sign",
            headers=auth,
            json={"digest_algorithm": "sha256", "digest": digest},
        )
        assert check_answer(api, sign, answer)["error"] == "unknown_authority"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", ""),
        (b"[]", ""),
        (json.dumps({"digest_algorithm": "md5", "digest": "AAAA"}).encode(), "digest_algorithm"),
        (json.dumps({"digest": "AAAA"}).encode(), "digest_algorithm"),
        (json.dumps({"digest_algorithm": "sha256"}).encode(), "digest"),
        (json.dumps({"digest_algorithm": "sha256", "digest": "***"}).encode(), "digest"),
        (json.dumps({"digest_algorithm": "sha256", "digest": "AAAA"}).encode(), "digest"),
        (
            json.dumps(
                {"digest_algorithm": "sha384", "digest": base64.b64encode(bytes(32)).decode()}
            ).encode(),
            "digest",
        ),
        (
            json.dumps(
                {
                    "digest_algorithm": "sha256",
                    "digest": base64.b64encode(bytes(32)).decode(),
                    "data": "x",
                }
            ).encode(),
            "data",
        ),
    ],
)
def test_bad_sign_requests_are_400_naming_the_field(
    url: str, recorder: Recorder, body: bytes, field: str
) -> None:
    with httpx.Client(base_url=url, timeout=5, trust_env=False) as http:
        answer = http.post(
            "v1/authorities/510100/sign",
            content=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
    assert answer.status_code == 400
    got = check_answer(spec(), "/v1/authorities/{code}/sign", answer)
    assert got["error"] == "invalid_request"
    assert got["field"] == field


def test_an_oversized_body_is_413(url: str) -> None:
    with httpx.Client(base_url=url, timeout=5, trust_env=False) as http:
        answer = http.post(
            "v1/authorities/510100/sign",
            content=b"{" + b" " * seal_service.MAX_BODY + b"}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert answer.status_code == 413
    check_answer(spec(), "/v1/authorities/{code}/sign", answer)


def test_unknown_paths_and_methods_answer_json(url: str) -> None:
    with httpx.Client(base_url=url, timeout=5, trust_env=False) as http:
        missing = http.get("v2/health")
        wrong = http.get("v1/authorities/510100/sign", headers={"Authorization": f"Bearer {TOKEN}"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def test_an_expired_seal_certificate_is_409_and_an_unusable_key_500(tmp_path: Path) -> None:
    make_demo_pki(tmp_path / "pki", [AUTHORITY], now=datetime.now(UTC) - timedelta(days=4 * 365))
    settings = software_settings()
    settings["authorities"]["510700"] = {"key": "pki/missing.key.pem", "cert": "pki/x.pem"}
    app = make_app(SoftwareSignerSource.from_settings(settings, tmp_path), {"t": TOKEN})
    body = {"digest_algorithm": "sha256", "digest": base64.b64encode(bytes(32)).decode()}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    api = spec()
    with ServiceThread(app) as url, httpx.Client(base_url=url, timeout=5, trust_env=False) as http:
        expired = http.post("v1/authorities/510100/sign", json=body, headers=auth)
        unusable = http.post("v1/authorities/510700/sign", json=body, headers=auth)
    assert expired.status_code == 409
    assert check_answer(api, "/v1/authorities/{code}/sign", expired)["error"] == (
        "certificate_not_valid"
    )
    assert unusable.status_code == 500
    assert check_answer(api, "/v1/authorities/{code}/sign", unusable)["error"] == (
        "signer_unavailable"
    )
    assert "missing.key.pem" not in unusable.text  # the service's paths stay in its log


def test_the_client_refuses_an_expired_certificate_before_signing(
    tmp_path: Path, plain_pdf: bytes, request_: SealRequest
) -> None:
    make_demo_pki(tmp_path / "pki", [AUTHORITY], now=datetime.now(UTC) - timedelta(days=4 * 365))
    app = Recorder(
        make_app(SoftwareSignerSource.from_settings(software_settings(), tmp_path), {"t": TOKEN})
    )
    with (
        ServiceThread(app) as url,
        remote(url, tmp_path) as provider,
        pytest.raises(SealingError, match="expired"),
    ):
        provider.seal_pdf(plain_pdf, request_)
    assert app.count("/sign") == 0


# --------------------------------------------------------------------------- settings and tokens


def test_settings_are_checked_and_named(workspace: Path) -> None:
    ok = RemoteSettings.from_settings({"url": "http://127.0.0.1:8700"}, workspace)
    assert ok.url == "http://127.0.0.1:8700/"
    assert (ok.token_env, ok.timeout, ok.retries) == ("BDCERT_SEAL_SERVICE_TOKEN", 10.0, 3)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"url": "http://127.0.0.1/", "token": TOKEN}, r"seal\.token is not a known setting"),
        ({}, "url must be"),
        ({"url": "ftp://127.0.0.1/"}, "http"),
        ({"url": "http://seal.example.gov.cn/"}, "https"),
        ({"url": f"https://city:{TOKEN}@seal.example.gov.cn/"}, "credentials"),
        ({"url": "https://seal.example.gov.cn/?x=1"}, "query"),
        ({"url": "https://seal.example.gov.cn/", "retries": -1}, "retries"),
        ({"url": "https://seal.example.gov.cn/", "retries": 1.5}, "retries"),
        ({"url": "https://seal.example.gov.cn/", "timeout": 0}, "timeout"),
        ({"url": "https://seal.example.gov.cn/", "timeout": "10"}, "timeout"),
        ({"url": "https://seal.example.gov.cn/", "client_cert": "c.pem"}, "client_key"),
        ({"url": "https://seal.example.gov.cn/", "token_env": ""}, "token_env"),
        ({"url": "https://x.example/", "backoff": 2, "max_backoff": 1}, "max_backoff"),
    ]
    for settings, message in bad:
        with pytest.raises(ConfigurationError, match=message) as info:
            RemoteSettings.from_settings(settings, workspace)
        assert TOKEN not in str(info.value)
    for loopback in ("http://localhost:1/", "http://[::1]:1/", "http://127.0.0.2/"):
        RemoteSettings.from_settings({"url": loopback}, workspace)


def test_missing_tls_files_are_a_configuration_error(workspace: Path) -> None:
    with pytest.raises(ConfigurationError, match="TLS files"):
        RemoteSealProvider.from_settings(
            {"url": "https://seal.example.gov.cn/", "ca_cert": "tls/missing.pem"}, workspace
        )


def test_tokens_are_parsed_and_never_shown() -> None:
    assert parse_tokens(f"chengdu={TOKEN}, {TOKEN}x") == {"chengdu": TOKEN, "token-2": TOKEN + "x"}
    assert parse_tokens("") == {} and parse_tokens(None) == {}
    with pytest.raises(ConfigurationError, match="shorter") as info:
        parse_tokens("city=short-secret")
    assert "short-secret" not in str(info.value)
    with pytest.raises(ConfigurationError, match="not a bearer token") as info:
        parse_tokens("city=令牌令牌令牌令牌令牌令牌令牌令牌")
    assert "令牌" not in str(info.value)
    with pytest.raises(ConfigurationError, match="repeated"):
        parse_tokens(f"a={TOKEN},a={TOKEN}y")
    with pytest.raises(ConfigurationError, match="tokens"):
        make_app(SoftwareSignerSource({}), {})


def test_the_error_pickles_with_its_attributes() -> None:
    import pickle

    error = SealServiceUnavailable("down", url="https://seal.example.gov.cn/", retry_after=30.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.url, copy.retry_after) == ("down", error.url, 30.0)


# --------------------------------------------------------------------------- end to end


def _use_remote(workspace_dir: Path, url: str, **extra: Any) -> None:
    config = workspace_dir / "bdcert.toml"
    text = config.read_text(encoding="utf-8")
    start, end = text.index("[seal]"), text.index("[identity]")
    lines = ["[seal]", 'plugin = "remote"', f'url = "{url}"', f'token_env = "{TOKEN_ENV}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    config.write_text(text[:start] + "\n".join(lines) + "\n\n" + text[end:], encoding="utf-8")


def test_a_registry_issues_and_verifies_through_the_service(
    tmp_path: Path, timeline: list[dict[str, Any]]
) -> None:
    from bdcert.lifecycle import Registry

    ws = make_workspace(tmp_path / "ws")
    app = Recorder(make_app(signer_source_from_workspace(ws), {"city": TOKEN}))
    port = free_port()
    _use_remote(ws.path, f"http://127.0.0.1:{port}/", retries=1, backoff=0.01, max_backoff=0.05)

    # the service is down: the entry waits in the backlog (force majeure), no number consumed
    with Registry.open(ws.path) as registry:
        assert isinstance(registry.seal_provider, RemoteSealProvider)
        platform = registry.authenticate({"operator": "platform"})
        waiting = registry.push(timeline[0], principal=platform)
        assert waiting.outcome.value == "backlogged"
        assert SealServiceUnavailable.__name__ in waiting.reason

        # once the service is up, draining the backlog issues it
        with ServiceThread(app, port=port):
            report = registry.drain_backlog(principal=platform, force=True)
            assert (report.issued, report.waiting) == (1, 0)
            result = registry.push(timeline[0], principal=platform)
        assert result.outcome.value == "replayed"
        (issued,) = result.certificates
        assert issued.certificate.sequence == 1
        verdict = registry.verify(issued.pdf)
        assert verdict.code is VerdictCode.VALID, verdict
    assert app.count("/sign") == 1


def test_the_command_serves_a_workspace(
    tmp_path: Path, pki: DemoPki, workspace: Path, plain_pdf: bytes, request_: SealRequest
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copytree(workspace / "pki", ws / "pki")
    (ws / "authorities.json").write_text("[]", encoding="utf-8")
    seal = software_settings()["authorities"]["510100"]
    (ws / "bdcert.toml").write_text(
        '[seal]\nplugin = "software"\n[seal.authorities."510100"]\n'
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in seal.items()),
        encoding="utf-8",
    )
    port = free_port()
    command = [sys.executable, "-m", "bdcert_adapters.seal_service", "--workspace", str(ws)]
    env = {**os.environ, seal_service.TOKENS_ENV: ""}
    refused = subprocess.run(
        [*command, "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and seal_service.TOKENS_ENV in refused.stderr
    refused = subprocess.run(
        [*command, "--host", "0.0.0.0", "--port", str(port)],
        env={**env, seal_service.TOKENS_ENV: f"city={TOKEN}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "plain HTTP" in refused.stderr

    env[seal_service.TOKENS_ENV] = f"city={TOKEN}"
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "v1/health", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the service exited"
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
        with remote(url, workspace) as provider:
            pdf = provider.seal_pdf(plain_pdf, request_)
        assert check_pdf_seal(pdf, [pki.root_cert.read_bytes()]).code is VerdictCode.VALID
    finally:
        process.terminate()
        try:
            _, log = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, log = process.communicate(timeout=10)
    assert "signed authority=510100" in log and "client=city" in log
    assert TOKEN not in log
