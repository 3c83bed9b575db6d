"""The ``pkcs11`` seal provider against a SoftHSM2 token made for this module, in ``tmp_path``.

The token gets ECDSA P-256 seal keys generated on it (sensitive, not extractable); a demo root
certifies their public keys. Sealed PDFs get the same independent checks as software-key seals:
poppler's ``pdfsig`` and pyHanko's validator, then our own :func:`check_pdf_seal`.

Without SoftHSM2 (``softhsm2-util`` and its library) or python-pkcs11 these tests skip on a
laptop, saying what to install, and fail under ``CI=true``.
"""

from __future__ import annotations

import io
import logging
import shutil
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bdcert.demo_pki import issue_seal_certificate as demo_seal_certificate
from bdcert.demo_pki import make_demo_pki
from bdcert.errors import ConfigurationError, MissingDependency, SealingError
from bdcert.model import CHINA_TZ, Authority, VerdictCode
from bdcert.protocols import SealProvider, SealRequest
from bdcert.signatures import check_pdf_seal
from bdcert_plugins import seal_pkcs11
from bdcert_plugins.seal_pkcs11 import Pkcs11SealProvider, default_module
from tests.support import make_workspace, run_tool, skip_or_fail

AUTHORITY = Authority(
    code="510100",
    name="成都市不动产登记中心",
    province_abbr="川",
    place_name="成都市",
    credit_code="12510100MB1C7A3X2H",
    division_code="510100",
)
CODES = ("510100", "510700", "513401")
TOKEN = "bdcert-test"
PIN = "hsm-PIN-7f3a-不会出现"  # distinctive: must never show up in a message, repr or log
SO_PIN = "so-PIN-91c2-不会出现"
WRONG_PIN = f"wrong-{PIN}"  # contains PIN, so "PIN not in text" covers it too
SIGNING_TIME = datetime(2024, 5, 6, 10, 30, tzinfo=CHINA_TZ)
BOX = (400.0, 60.0, 520.0, 180.0)


def require_pkcs11() -> None:
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        skip_or_fail("install python-pkcs11 (pip install -e '.[hsm]')")


def require_softhsm() -> str:
    require_pkcs11()
    module = default_module()
    if shutil.which("softhsm2-util") is None or module is None:
        skip_or_fail("install softhsm2 (apt-get install softhsm2)")
    assert module is not None
    return module


# --------------------------------------------------------------------------- the token


def issue_seal_certificate(
    public_key: Any,
    root_key_path: Path,
    root_cert_path: Path,
    *,
    name: str,
    credit_code: str,
    not_before: datetime | None = None,
    days: int = 1096,
) -> x509.Certificate:
    """A seal certificate for ``public_key`` signed by a demo root, shaped like demo_pki's."""
    root_key = serialization.load_pem_private_key(root_key_path.read_bytes(), None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    root = x509.load_pem_x509_certificate(root_cert_path.read_bytes())
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    return demo_seal_certificate(
        public_key,
        name=name,
        credit_code=credit_code,
        issuer_cert=root,
        issuer_key=root_key,
        not_before=start,
        not_after=start + timedelta(days=days),
    )


def generate_token_key(session: Any, label: str) -> ec.EllipticCurvePublicKey:
    """An ECDSA P-256 key pair generated on the token; the private half is sensitive and
    not extractable. Returns the public key."""
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    parameters = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
    )
    public, _private = parameters.generate_keypair(
        store=True,
        label=label,
        public_template={Attribute.VERIFY: True},
        private_template={
            Attribute.SIGN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
        },
    )
    key = serialization.load_der_public_key(encode_ec_public_key(public))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


@attrs.define(frozen=True)
class Hsm:
    """The SoftHSM2 token of this module and a workspace directory with its certificates.

    :ivar directory: workspace directory; ``pki/root.*`` (demo root) and
        ``pki/<code>.hsm.cert.pem`` (the token keys' seal certificates).
    :ivar public_keys: authority code → public key of the token key ``seal-<code>``.
    """

    module: str
    conf: Path
    directory: Path
    root_cert: Path
    root_key: Path
    public_keys: dict[str, ec.EllipticCurvePublicKey]

    @property
    def root_pem(self) -> bytes:
        return self.root_cert.read_bytes()


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hsm]:
    module = require_softhsm()
    import pkcs11

    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n",
        encoding="utf-8",
    )
    env = pytest.MonkeyPatch()
    env.setenv("SOFTHSM2_CONF", str(conf))
    env.setenv("BDCERT_PKCS11_PIN", PIN)
    try:
        made = run_tool(
            "softhsm2-util", "--init-token", "--free", "--label", TOKEN,
            "--pin", PIN, "--so-pin", SO_PIN,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        # SoftHSM2 reads SOFTHSM2_CONF when initialised: start it afresh in case it was loaded
        lib = pkcs11.lib(module)
        lib.reinitialize()
        directory = base / "ws"
        pki = make_demo_pki(directory / "pki", [AUTHORITY])
        public_keys = {}
        with lib.get_token(token_label=TOKEN).open(rw=True, user_pin=PIN) as session:
            for code in CODES:
                public_keys[code] = generate_token_key(session, f"seal-{code}")
            cert = issue_seal_certificate(
                public_keys["510100"],
                pki.root_key,
                pki.root_cert,
                name=AUTHORITY.name,
                credit_code=AUTHORITY.credit_code,
            )
            (directory / "pki" / "510100.hsm.cert.pem").write_bytes(
                cert.public_bytes(serialization.Encoding.PEM)
            )
            from pkcs11 import Attribute, CertificateType, ObjectClass

            session.create_object(  # for cert_label
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.LABEL: "cert-510100",
                    Attribute.SUBJECT: cert.subject.public_bytes(),
                    Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
                }
            )
        for code in CODES[1:]:
            other = issue_seal_certificate(
                public_keys[code],
                pki.root_key,
                pki.root_cert,
                name=f"测试不动产登记中心{code}",
                credit_code=f"12{code}MB0000000X",
            )
            (directory / "pki" / f"{code}.hsm.cert.pem").write_bytes(
                other.public_bytes(serialization.Encoding.PEM)
            )
        yield Hsm(module, conf, directory, pki.root_cert, pki.root_key, public_keys)
    finally:
        env.undo()


def authority_settings(code: str = "510100", **changes: Any) -> dict[str, Any]:
    table = {
        "key_label": f"seal-{code}",
        "cert": f"pki/{code}.hsm.cert.pem",
        "chain": ["pki/root.cert.pem"],
    }
    table.update(changes)
    return {k: v for k, v in table.items() if v is not None}


def settings(*codes: str, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "plugin": "pkcs11",
        "token_label": TOKEN,
        "authorities": {code: authority_settings(code) for code in codes or ("510100",)},
    }
    value.update(changes)
    return value


@pytest.fixture
def make_provider(hsm: Hsm) -> Iterator[Callable[..., Pkcs11SealProvider]]:
    """Providers from settings, every one closed afterwards (the token's login is per process)."""
    made: list[Pkcs11SealProvider] = []

    def make(value: dict[str, Any] | None = None) -> Pkcs11SealProvider:
        provider = Pkcs11SealProvider.from_settings(value or settings(), hsm.directory)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def logins(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every session opening with a PIN (the provider's only ``C_Login``)."""
    calls: list[str] = []
    real = seal_pkcs11._open_session

    def spy(token: Any, pin: Any) -> Any:
        calls.append(token.label)
        return real(token, pin)

    monkeypatch.setattr(seal_pkcs11, "_open_session", spy)
    return calls


@pytest.fixture(scope="module")
def request_(seal_png: bytes) -> SealRequest:
    return SealRequest(
        authority=AUTHORITY,
        page=0,
        box=BOX,
        appearance_png=seal_png,
        location="成都市",
        signing_time=SIGNING_TIME,
    )


def for_authority(request: SealRequest, code: str) -> SealRequest:
    return attrs.evolve(request, authority=attrs.evolve(AUTHORITY, code=code))


# --------------------------------------------------------------------------- sealing


def test_the_seal_key_stays_on_the_token(hsm: Hsm) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    token = pkcs11.lib(hsm.module).get_token(token_label=TOKEN)
    with token.open(user_pin=PIN) as session:
        (key,) = session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: "seal-510100"}
        )
        assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]


def test_sealed_pdf_passes_pdfsig_pyhanko_and_our_check(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    plain_pdf: bytes,
    request_: SealRequest,
    tmp_path: Path,
) -> None:
    provider = make_provider()
    assert isinstance(provider, SealProvider)
    pdf = provider.seal_pdf(plain_pdf, request_)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(pdf)

    # poppler (NSS): the signature value verifies and covers the whole document
    if shutil.which("pdfsig") is None:
        skip_or_fail("pdfsig is not installed (bash scripts/setup installs it)")
    out = run_tool("pdfsig", "-nocert", path)
    assert out.returncode == 0, out.stderr
    assert "Signature is Valid" in out.stdout, out.stdout
    assert "Total document signed" in out.stdout
    assert "ETSI.CAdES.detached" in out.stdout

    # pyHanko: intact, valid, trusted, whole file, signed by the token key's certificate
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    (sig,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    context = ValidationContext(
        trust_roots=[load_cert_from_pemder(str(hsm.root_cert))], allow_fetching=False
    )
    status = validate_pdf_signature(sig, context)
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.md_algorithm == "sha256"
    assert status.signer_reported_dt == SIGNING_TIME
    hsm_cert = (hsm.directory / "pki" / "510100.hsm.cert.pem").read_bytes()
    assert sig.signer_cert.dump() == x509.load_pem_x509_certificate(hsm_cert).public_bytes(
        serialization.Encoding.DER
    )

    # our own check
    check = check_pdf_seal(pdf, [hsm.root_pem])
    assert check.code is VerdictCode.VALID, check.detail
    assert check.signer is not None and AUTHORITY.name in check.signer
    assert provider.signer_certificate_pem("510100") == hsm_cert


def test_many_seals_reuse_one_session_and_log_in_once(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    logins: list[str],
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    provider = make_provider(settings("510100", "510700"))
    assert logins == [] and provider._session is None  # lazy: nothing opened yet
    sessions, pdfs = set(), []
    for i in range(5):
        pdfs.append(provider.seal_pdf(plain_pdf, attrs.evolve(request_, signing_time=None)))
        sessions.add(id(provider._session))
        if i == 1:
            pdfs.append(provider.seal_pdf(plain_pdf, for_authority(request_, "510700")))
            sessions.add(id(provider._session))
    assert logins == [TOKEN]
    assert len(sessions) == 1
    for pdf in pdfs:
        assert check_pdf_seal(pdf, [hsm.root_pem]).code is VerdictCode.VALID


def test_the_token_signs_a_digest_for_the_seal_service(
    make_provider: Callable[..., Pkcs11SealProvider],
) -> None:
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    from bdcert.protocols import Closable, DigestSigner, SignerSource

    provider = make_provider()
    assert isinstance(provider, DigestSigner)
    assert isinstance(provider, SignerSource) and isinstance(provider, Closable)
    digest = hashlib.sha256(b"signed attributes").digest()
    signature = provider.sign_digest("510100", digest, "sha256")
    (cert_der, *chain) = provider.certificate_chain("510100")
    assert chain  # the root from the settings
    public = x509.load_der_x509_certificate(cert_der).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_threads_share_the_session(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    logins: list[str],
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    provider = make_provider(settings("510100", "510700"))
    results: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(n: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                code = CODES[n % 2]
                results.append(provider.seal_pdf(plain_pdf, for_authority(request_, code)))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == 12
    assert logins == [TOKEN]
    for pdf in results:
        assert check_pdf_seal(pdf, [hsm.root_pem]).code is VerdictCode.VALID


def test_a_lost_session_is_reopened_once(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    logins: list[str],
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    provider = make_provider()
    provider.seal_pdf(plain_pdf, request_)
    provider._session.close()  # as if the HSM had restarted: the handle is now invalid
    pdf = provider.seal_pdf(plain_pdf, request_)
    assert check_pdf_seal(pdf, [hsm.root_pem]).code is VerdictCode.VALID
    assert logins == [TOKEN, TOKEN]


def test_two_providers_on_one_token_share_the_login(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    caplog: pytest.LogCaptureFixture,
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    """PKCS#11 logs in the process, not the session: the second provider shares the login, and
    when the first logs out, the second's next seal logs in again by itself."""
    caplog.set_level(logging.INFO, logger="bdcert_plugins.seal_pkcs11")
    first, second = make_provider(), make_provider()
    first.seal_pdf(plain_pdf, request_)
    second.seal_pdf(plain_pdf, request_)
    assert "already logged in" in caplog.text
    first.close()
    pdf = second.seal_pdf(plain_pdf, request_)
    assert check_pdf_seal(pdf, [hsm.root_pem]).code is VerdictCode.VALID


def test_close_logs_out_and_a_later_seal_logs_in_again(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    logins: list[str],
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    provider = make_provider()
    with provider:
        provider.seal_pdf(plain_pdf, request_)
    assert provider._session is None
    provider.close()  # idempotent
    pdf = provider.seal_pdf(plain_pdf, request_)
    assert check_pdf_seal(pdf, [hsm.root_pem]).code is VerdictCode.VALID
    assert logins == [TOKEN, TOKEN]


def test_the_certificate_can_come_from_the_token(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    value = settings()
    value["authorities"]["510100"] = authority_settings(cert=None, cert_label="cert-510100")
    provider = make_provider(value)
    pdf = provider.seal_pdf(plain_pdf, request_)
    assert check_pdf_seal(pdf, [hsm.root_pem]).code is VerdictCode.VALID
    expected = (hsm.directory / "pki" / "510100.hsm.cert.pem").read_bytes()
    assert provider.signer_certificate_pem("510100") == expected


def test_the_module_can_be_named(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    provider = make_provider(settings(module=hsm.module, pin_env="BDCERT_PKCS11_PIN"))
    assert hsm.module in repr(provider)
    pdf = provider.seal_pdf(plain_pdf, request_)
    assert check_pdf_seal(pdf, [hsm.root_pem]).code is VerdictCode.VALID


# --------------------------------------------------------------------------- errors


def assert_no_pin(*texts: str) -> None:
    for text in texts:
        assert PIN not in text, text
        assert SO_PIN not in text, text


def test_wrong_pin_is_a_clear_error_without_the_pin(
    make_provider: Callable[..., Pkcs11SealProvider],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("BDCERT_TEST_HSM_PIN", WRONG_PIN)
    provider = make_provider(settings(pin_env="BDCERT_TEST_HSM_PIN"))
    with pytest.raises(SealingError) as info:
        provider.seal_pdf(plain_pdf, request_)
    message = str(info.value)
    assert "wrong PIN" in message and "CKR_PIN_INCORRECT" in message
    assert "BDCERT_TEST_HSM_PIN" in message and TOKEN in message
    # nothing chained, and no frame of the traceback holds the PIN in the clear
    assert info.value.__cause__ is None and info.value.__context__ is None
    frames = [repr(entry.frame.f_locals) for entry in info.traceback]
    assert_no_pin(message, repr(info.value), repr(provider), str(provider), caplog.text, *frames)

    inline = make_provider(settings(pin=WRONG_PIN))
    with pytest.raises(SealingError, match="wrong PIN") as info:
        inline.signer_certificate_pem("510100")
    assert "[seal] pin" in str(info.value)
    assert "pin=<hidden>" in repr(inline)
    assert "prefer pin_env" in caplog.text  # the warning about a PIN in the workspace file
    assert_no_pin(str(info.value), repr(info.value), repr(inline), repr(vars(inline)), caplog.text)


def test_a_rejected_pin_is_not_tried_again(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    monkeypatch: pytest.MonkeyPatch,
    logins: list[str],
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    """Tokens lock the PIN after a few wrong tries: a queue of seals must not burn them."""
    monkeypatch.setenv("BDCERT_TEST_HSM_PIN", WRONG_PIN)
    provider = make_provider(settings(pin_env="BDCERT_TEST_HSM_PIN"))
    for _ in range(3):
        with pytest.raises(SealingError, match="wrong PIN") as info:
            provider.seal_pdf(plain_pdf, request_)
    assert "not tried again" in str(info.value) and "BDCERT_TEST_HSM_PIN" in str(info.value)
    assert logins == [TOKEN]
    assert_no_pin(str(info.value), repr(vars(provider)))
    monkeypatch.setenv("BDCERT_TEST_HSM_PIN", PIN)  # corrected: tried, and it works
    pdf = provider.seal_pdf(plain_pdf, request_)
    assert check_pdf_seal(pdf, [hsm.root_pem]).code is VerdictCode.VALID
    assert logins == [TOKEN, TOKEN]


def test_a_right_pin_never_shows_either(
    make_provider: Callable[..., Pkcs11SealProvider],
    caplog: pytest.LogCaptureFixture,
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    import pickle

    caplog.set_level(logging.DEBUG)
    for provider in (make_provider(), make_provider(settings(pin=PIN))):
        provider.seal_pdf(plain_pdf, request_)
        assert_no_pin(repr(provider), str(provider), repr(vars(provider)), caplog.text)
    assert "opened a PKCS#11 session" in caplog.text
    with pytest.raises(TypeError):
        pickle.dumps(provider._pin)


def test_missing_token_is_a_clear_error_listing_the_tokens(
    make_provider: Callable[..., Pkcs11SealProvider],
    caplog: pytest.LogCaptureFixture,
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = make_provider(settings(token_label="no-such-token"))
    with pytest.raises(SealingError) as info:
        provider.seal_pdf(plain_pdf, request_)
    message = str(info.value)
    assert "no token labelled 'no-such-token'" in message
    assert f"tokens present: '{TOKEN}'" in message
    assert_no_pin(message, repr(info.value), caplog.text)


def test_missing_key_label_is_a_clear_error_listing_the_keys(
    make_provider: Callable[..., Pkcs11SealProvider],
    caplog: pytest.LogCaptureFixture,
    plain_pdf: bytes,
    request_: SealRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    value = settings()
    value["authorities"]["510100"]["key_label"] = "seal-999999"
    provider = make_provider(value)
    with pytest.raises(SealingError) as info:
        provider.seal_pdf(plain_pdf, request_)
    message = str(info.value)
    assert "no private key labelled 'seal-999999'" in message and "510100" in message
    assert "'seal-510100', 'seal-510700', 'seal-513401'" in message
    assert_no_pin(message, repr(info.value), caplog.text)


def test_missing_certificate_label_lists_the_certificates(
    make_provider: Callable[..., Pkcs11SealProvider],
) -> None:
    value = settings()
    value["authorities"]["510100"] = authority_settings(cert=None, cert_label="cert-999999")
    with pytest.raises(SealingError, match=r"no certificate labelled 'cert-999999'.*'cert-510100'"):
        make_provider(value).signer_certificate_pem("510100")


def test_unset_pin_variable_is_named(
    make_provider: Callable[..., Pkcs11SealProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BDCERT_TEST_UNSET_PIN", raising=False)
    provider = make_provider(settings(pin_env="BDCERT_TEST_UNSET_PIN"))
    with pytest.raises(SealingError, match="BDCERT_TEST_UNSET_PIN, which is not set"):
        provider.signer_certificate_pem("510100")


def test_a_key_of_another_certificate_is_refused(
    make_provider: Callable[..., Pkcs11SealProvider],
) -> None:
    value = settings()
    value["authorities"]["510100"]["key_label"] = "seal-510700"  # with 510100's certificate
    with pytest.raises(SealingError, match="'seal-510700' does not belong to the seal certificate"):
        make_provider(value).signer_certificate_pem("510100")


@pytest.mark.parametrize(("shift", "state"), [(-4 * 365, "expired"), (10, "not yet valid")])
def test_expired_or_future_seal_certificate_is_refused(
    hsm: Hsm,
    make_provider: Callable[..., Pkcs11SealProvider],
    plain_pdf: bytes,
    request_: SealRequest,
    shift: int,
    state: str,
) -> None:
    cert = issue_seal_certificate(
        hsm.public_keys["510100"],
        hsm.root_key,
        hsm.root_cert,
        name=AUTHORITY.name,
        credit_code=AUTHORITY.credit_code,
        not_before=datetime.now(UTC) + timedelta(days=shift),
    )
    name = f"pki/510100.{state.replace(' ', '-')}.cert.pem"
    (hsm.directory / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    value = settings()
    value["authorities"]["510100"]["cert"] = name
    with pytest.raises(SealingError, match=state):
        make_provider(value).seal_pdf(plain_pdf, request_)


def test_unknown_authority_is_a_sealing_error_naming_it(
    make_provider: Callable[..., Pkcs11SealProvider], plain_pdf: bytes, request_: SealRequest
) -> None:
    provider = make_provider()
    with pytest.raises(SealingError, match=r"'510700' \(configured: 510100\)"):
        provider.seal_pdf(plain_pdf, for_authority(request_, "510700"))


def test_missing_library_is_a_clear_error(
    tmp_path: Path, plain_pdf: bytes, request_: SealRequest
) -> None:
    require_pkcs11()
    provider = Pkcs11SealProvider.from_settings(
        settings(module="/nonexistent/libno-such-pkcs11.so"), tmp_path
    )
    with pytest.raises(SealingError, match=r"libno-such-pkcs11\.so does not exist"):
        provider.seal_pdf(plain_pdf, request_)
    not_a_library = tmp_path / "not-a-library.so"
    not_a_library.write_bytes(b"\x7fELF but not really")
    provider = Pkcs11SealProvider.from_settings(settings(module=str(not_a_library)), tmp_path)
    with pytest.raises(SealingError, match="cannot load the PKCS#11 library"):
        provider.seal_pdf(plain_pdf, request_)


# --------------------------------------------------------------------------- settings


def test_unknown_or_malformed_settings_are_named(tmp_path: Path) -> None:
    require_pkcs11()

    def build(value: dict[str, Any]) -> None:
        Pkcs11SealProvider.from_settings(value, tmp_path)

    with pytest.raises(
        ConfigurationError, match=r"seal\.slot is not a known setting \(known: authorities"
    ):
        build(settings(slot=0))
    bad = settings()
    bad["authorities"]["510100"]["key"] = "pki/510100.key.pem"
    with pytest.raises(
        ConfigurationError, match=r"seal\.authorities\.510100\.key is not a known setting"
    ):
        build(bad)
    with pytest.raises(ConfigurationError, match="token_label"):
        build({"authorities": {}})
    with pytest.raises(ConfigurationError, match="either pin_env or pin"):
        build(settings(pin=PIN, pin_env="X"))
    with pytest.raises(ConfigurationError, match="pin must be a string") as info:
        build(settings(pin=1234))
    with pytest.raises(ConfigurationError, match="key_label"):
        build(settings() | {"authorities": {"510100": {"cert": "c.pem"}}})
    with pytest.raises(ConfigurationError, match=r"either cert .* or cert_label"):
        build(settings() | {"authorities": {"510100": {"key_label": "k"}}})
    with pytest.raises(ConfigurationError, match=r"either cert .* or cert_label"):
        build(
            settings()
            | {"authorities": {"510100": {"key_label": "k", "cert": "c", "cert_label": "c"}}}
        )
    with pytest.raises(ConfigurationError, match="chain must be a list"):
        build(settings() | {"authorities": {"510100": authority_settings(chain=[1])}})
    assert_no_pin(str(info.value))


def test_missing_python_pkcs11_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pkcs11", None)  # import pkcs11 now raises ImportError
    with pytest.raises(MissingDependency, match=r"bdcert\[hsm\]"):
        Pkcs11SealProvider.from_settings(settings(), tmp_path)


def test_registered_through_the_hook_and_the_entry_point() -> None:
    from bdcert.plugins import Hooks, make_plugin_manager

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(seal_pkcs11)
    assert Hooks(pm).seal_providers().get("pkcs11") == Pkcs11SealProvider.from_settings
    assert Pkcs11SealProvider.name == "pkcs11"
    assert Hooks().seal_providers().get("pkcs11") == Pkcs11SealProvider.from_settings


# --------------------------------------------------------------------------- end to end


def use_pkcs11(config: Path, hsm: Hsm, codes: list[str]) -> None:
    """Rewrite the ``[seal]`` tables of a workspace's bdcert.toml for this module's token."""
    kept, skipping = [], False
    for line in config.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            skipping = line == "[seal]" or line.startswith("[seal.")
        if not skipping:
            kept.append(line)
    kept += [
        "[seal]",
        'plugin = "pkcs11"',
        f'module = "{hsm.module}"',
        f'token_label = "{TOKEN}"',
        'pin_env = "BDCERT_PKCS11_PIN"',
    ]
    for code in codes:
        kept += [
            "",
            f'[seal.authorities."{code}"]',
            f'key_label = "seal-{code}"',
            f'cert = "pki/{code}.hsm.cert.pem"',
            'chain = ["pki/root.cert.pem"]',
        ]
    config.write_text("\n".join(kept) + "\n", encoding="utf-8")


def test_a_workspace_issues_certificates_sealed_on_the_token(
    hsm: Hsm, tmp_path: Path, timeline: list[dict[str, Any]], logins: list[str]
) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    from bdcert.lifecycle import Registry

    ws = make_workspace(tmp_path / "ws")
    pki = ws.path / "pki"
    authorities = ws.authorities()
    assert set(authorities) <= set(CODES)
    certs = {}
    for code, authority in authorities.items():
        certs[code] = issue_seal_certificate(
            hsm.public_keys[code],
            pki / "root.key.pem",
            pki / "root.cert.pem",
            name=authority.name,
            credit_code=authority.credit_code,
        )
        (pki / f"{code}.hsm.cert.pem").write_bytes(
            certs[code].public_bytes(serialization.Encoding.PEM)
        )
    config = ws.path / "bdcert.toml"
    use_pkcs11(config, hsm, sorted(authorities))
    seal = tomllib.loads(config.read_text(encoding="utf-8"))["seal"]
    assert seal["plugin"] == "pkcs11" and "key" not in seal["authorities"]["510100"]

    registry = Registry.open(ws.path)
    try:
        assert isinstance(registry.seal_provider, Pkcs11SealProvider)
        principal = registry.authenticate({"operator": "platform"})
        entry = timeline[0]
        result = registry.push(entry, principal=principal)
        assert result.outcome.value == "issued", result
        (issued,) = result.certificates
        verdict = registry.verify(issued.pdf)
        assert verdict.code is VerdictCode.VALID, verdict
        # the seal; PAdES B-LTA (the default level) adds a document timestamp after it
        reader = PdfFileReader(io.BytesIO(issued.pdf))
        (sig,) = reader.embedded_regular_signatures
        assert len(reader.embedded_timestamp_signatures) == 1
        code = entry["djjg"]
        assert sig.signer_cert.dump() == certs[code].public_bytes(serialization.Encoding.DER)
        assert logins == [TOKEN]
    finally:
        registry.seal_provider.close()
        registry.close()
