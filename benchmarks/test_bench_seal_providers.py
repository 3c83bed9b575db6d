"""Sealing one rendered certificate PDF: the ``software`` provider beside the ``pkcs11`` one.

Both seal the same rendered property certificate with an ECDSA P-256 key certified by the same
demo root: ``software`` from a PEM file, ``pkcs11`` on a SoftHSM2 token made for this run (one
logged-in session, reused). Both are in one pytest-benchmark group, so the table's ``median``
column shows each one's factor against the faster; the ``pkcs11`` entry also records the
software median and the ratio in its ``extra_info`` (``--benchmark-json``).

The ``pkcs11`` benchmark skips when SoftHSM2 or python-pkcs11 is missing (``apt-get install
softhsm2``, ``pip install -e '.[hsm]'``).

Run: ``.venv/bin/pytest benchmarks/test_bench_seal_providers.py --benchmark-only``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from bdcert.lifecycle import Registry
from bdcert.model import VerdictCode
from bdcert.verify.pades import check_pdf_seal
from bdcert_plugins.seal_software import SoftwareSealProvider

from .conftest import make_workspace, render_sample

TOKEN = "bdcert-bench"
PIN = "bench-pin-4711"
ROUNDS = 50

#: Medians (seconds) measured in this run, by provider name, for the ratio.
MEDIANS: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A demo workspace and one rendered, unsealed property certificate with its seal request."""
    ws = make_workspace(tmp_path_factory.mktemp("bench-seal") / "ws")
    registry = Registry.open(ws)
    sample = render_sample(registry)
    authority, rendered, request = sample.authority, sample.rendered, sample.request
    yield {
        "ws": ws,
        "authority": authority,
        "pdf": rendered.pdf,
        "request": request,
        "root": (ws / "pki" / "root.cert.pem").read_bytes(),
    }
    registry.close()


def _seal(benchmark: Any, provider: Any, setup: dict[str, Any]) -> float | None:
    """Time ``provider.seal_pdf`` on the rendered PDF; the median in seconds (None if disabled)."""
    pdf, request = setup["pdf"], setup["request"]
    first = provider.seal_pdf(pdf, request)  # loads the key (and logs in), outside the timing
    assert check_pdf_seal(first, [setup["root"]]).code is VerdictCode.VALID
    sealed = benchmark.pedantic(
        provider.seal_pdf, args=(pdf, request), rounds=ROUNDS, warmup_rounds=2
    )
    assert check_pdf_seal(sealed, [setup["root"]]).code is VerdictCode.VALID
    if benchmark.stats is None:  # --benchmark-disable: run once, nothing measured
        return None
    median = float(benchmark.stats.stats.median)
    benchmark.extra_info["median_ms"] = round(median * 1000, 3)
    return median


@pytest.mark.benchmark(group="seal-provider")
def test_seal_software(benchmark: Any, setup: dict[str, Any]) -> None:
    code = setup["authority"].code
    ws = setup["ws"]
    provider = SoftwareSealProvider.from_settings(
        {
            "authorities": {
                code: {
                    "key": f"pki/{code}.key.pem",
                    "cert": f"pki/{code}.cert.pem",
                    "chain": ["pki/root.cert.pem"],
                }
            }
        },
        ws,
    )
    median = _seal(benchmark, provider, setup)
    if median is not None:
        MEDIANS["software"] = median


# --------------------------------------------------------------------------- the token


@pytest.fixture(scope="module")
def token_provider(
    setup: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A ``pkcs11`` provider for the authority, its key generated on a fresh SoftHSM2 token."""
    try:
        import pkcs11
        from pkcs11 import Attribute, KeyType
        from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

        from bdcert_plugins.seal_pkcs11 import Pkcs11SealProvider, default_module
    except ImportError:
        pytest.skip("install python-pkcs11 (pip install -e '.[hsm]')")
    module = default_module()
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("install softhsm2 (apt-get install softhsm2)")

    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nlog.level = ERROR\n")
    env = pytest.MonkeyPatch()
    env.setenv("SOFTHSM2_CONF", str(conf))
    env.setenv("BDCERT_BENCH_PIN", PIN)
    provider = None
    try:
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", TOKEN,
             "--pin", PIN, "--so-pin", PIN + "-so"],
            check=True, capture_output=True,
        )  # fmt: skip
        lib = pkcs11.lib(module)
        lib.reinitialize()  # SoftHSM2 reads SOFTHSM2_CONF when initialised
        authority, ws = setup["authority"], setup["ws"]
        label = f"seal-{authority.code}"
        with lib.get_token(token_label=TOKEN).open(rw=True, user_pin=PIN) as session:
            parameters = session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            public, _ = parameters.generate_keypair(
                store=True,
                label=label,
                private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )
            public_key = serialization.load_der_public_key(encode_ec_public_key(public))
        cert_path = ws / "pki" / f"{authority.code}.hsm.cert.pem"
        cert_path.write_bytes(_certify(public_key, ws / "pki", authority))
        provider = Pkcs11SealProvider.from_settings(
            {
                "module": module,
                "token_label": TOKEN,
                "pin_env": "BDCERT_BENCH_PIN",
                "authorities": {
                    authority.code: {
                        "key_label": label,
                        "cert": str(cert_path),
                        "chain": ["pki/root.cert.pem"],
                    }
                },
            },
            ws,
        )
        yield provider
    finally:
        if provider is not None:
            provider.close()
        env.undo()


def _certify(public_key: Any, pki: Path, authority: Any) -> bytes:
    """A seal certificate (PEM) for ``public_key`` from the workspace's demo root."""
    root = x509.load_pem_x509_certificate((pki / "root.cert.pem").read_bytes())
    root_key: Any = serialization.load_pem_private_key((pki / "root.key.pem").read_bytes(), None)
    now = datetime.now(UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, authority.name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, authority.credit_code),
            x509.NameAttribute(NameOID.COMMON_NAME, authority.name),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    document_signing = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([document_signing, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.benchmark(group="seal-provider")
def test_seal_pkcs11_softhsm2(benchmark: Any, setup: dict[str, Any], token_provider: Any) -> None:
    median = _seal(benchmark, token_provider, setup)
    software = MEDIANS.get("software")
    if median is not None and software:
        benchmark.extra_info["software_median_ms"] = round(software * 1000, 3)
        benchmark.extra_info["ratio_to_software"] = round(median / software, 3)
