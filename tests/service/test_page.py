"""The public verification page over a Litestar test client: plain words for every status and
every check, escaping, no script, masked names, status codes 200/404/400/413/429.

Pages are read with the standard library's HTML parser (independent of Jinja2): a ``<script>``
element or an attribute carrying markup would show up as parsed tags, text as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.config import Workspace
from bdcert.lifecycle import Registry
from bdcert.model import IssuedCertificate, Principal
from tests.service.conftest import copy_served
from tests.support import TIMELINE, require_module

PLATFORM = Principal("platform", {"platform"})
PREFIX = "/v/"  # the path of the demo workspace's verification_base_url

#: The shared timeline's lines (1-based) pushed, in order: a first registration superseded by
#: line 14's, one seized by line 20, a mortgage proof cancelled by line 19.
LINES = (1, 2, 9, 14, 19, 20)
GENUINE = "川(2024)成都市不动产权第0000003号"  # line 14's (numbers follow the pushes)
SUPERSEDED = "川(2024)成都市不动产权第0000001号"  # by GENUINE
CANCELLED = "川(2024)成都市不动产证明第0000001号"  # by line 19, with REASON
SEIZED = "川(2024)成都市不动产权第0000002号"  # 查封 (line 20)
#: Line 19's reason, naming a person (masked on every page).
REASON = "抵押人王晓明已清偿主债权"
MASKED_REASON = "抵押人王*明已清偿主债权"
DISCLAIMER = (
    "本页面仅显示不动产登记簿中该证书的当前状态，不能证明您手中的纸质证书或电子文件是真实的。"
)

#: A 坐落 and a 权利人 name carrying markup (pushed as one more certificate).
MARKUP_ZL = '成都市<b>锦江区</b><script>alert("zl")</script>东大街1号'
MARKUP_NAME = '赵<script>alert("qlr")</script>磊'
#: The full names of the persons among the timeline's 权利人 (none may appear on a page).
PERSONS = ("王晓明", "陈建国", "刘芳", "赵磊", "孙丽", "李红", "何静", "杨晨", "吴秀英", "周杰")


def push_timeline(registry: Registry) -> dict[str, IssuedCertificate]:
    """Push the shared timeline's :data:`LINES` as the platform (line 19 with :data:`REASON`);
    number → issued certificate (with its PDF)."""
    timeline = TIMELINE.read_text(encoding="utf-8").splitlines()
    issued: dict[str, IssuedCertificate] = {}
    for line in LINES:
        entry = json.loads(timeline[line - 1])
        if line == 19:
            entry["zxyy"] = REASON
        for certificate in registry.push(entry, principal=PLATFORM).certificates:
            issued[certificate.certificate.number] = certificate
    assert set(issued) == {GENUINE, SUPERSEDED, CANCELLED, SEIZED}
    return issued


def markup_entry() -> dict[str, Any]:
    """The timeline's last (standalone) entry on a new unit, with markup in 坐落 and a name."""
    entry = json.loads(TIMELINE.read_text(encoding="utf-8").splitlines()[29])
    entry["ywh"] = "510100-2024-000901"
    entry["bdcdyh"] = ["510104001001GB00001F00019999"]
    entry["zl"] = MARKUP_ZL
    entry["qlr"][0]["mc"] = MARKUP_NAME
    return dict(entry)


def tampered(pdf: bytes) -> bytes:
    """The PDF with one digit of its /CreationDate changed: inside the first signed range."""
    start, length = (int(x) for x in re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)", pdf).groups())  # type: ignore[union-attr]
    offset = pdf.index(b"/CreationDate (D:") + len(b"/CreationDate (D:") + 3
    assert start <= offset < start + length
    out = bytearray(pdf)
    out[offset] = ord("1") if out[offset] != ord("1") else ord("2")
    return bytes(out)


def forged_pdf(directory: Path) -> bytes:
    """A PDF sealed by pyHanko with a self-made certificate named after the authority."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from fpdf import FPDF
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "成都市不动产登记中心")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    (directory / "forger.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "forger.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    signer = signers.SimpleSigner.load(
        str(directory / "forger.key"), str(directory / "forger.crt"), key_passphrase=None
    )
    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=14)
    doc.cell(text="Real estate certificate")
    out = BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(bytes(doc.output()))),
        signers.PdfSignatureMetadata(field_name="Seal"),
        signer=signer,
        output=out,
    )
    return out.getvalue()


class Page(HTMLParser):
    """A page as the standard library parses it: its tags and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


@attrs.define
class Site:
    client: Any
    issued: dict[str, IssuedCertificate]
    markup: IssuedCertificate
    limit: int
    pages: list[Page] = attrs.field(factory=list)

    def token_url(self, number: str) -> str:
        return PREFIX + self.issued[number].certificate.token

    def get(self, path: str, status: int = 200) -> Page:
        r = self.client.get(path)
        return self._page(r, status)

    def upload(self, data: bytes, name: str = "证书.pdf", status: int = 200) -> Page:
        r = self.client.post(PREFIX + "check", files={"file": (name, data, "application/pdf")})
        return self._page(r, status)

    def _page(self, r: Any, status: int) -> Page:
        assert r.status_code == status, r.text[:500]
        # exactly one charset parameter (it was once doubled)
        assert r.headers["content-type"] == "text/html; charset=utf-8", r.headers["content-type"]
        page = Page(r.text)
        assert "script" not in page.tags
        assert not re.search(r"<\s*script", r.text, re.IGNORECASE)
        assert not any(name.startswith("on") for name, _ in page.attrs)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert r.headers["referrer-policy"] == "no-referrer"
        self.pages.append(page)
        return page


def with_settings(directory: Path, text: str) -> Workspace:
    config = directory / "bdcert.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    return Workspace.load(directory)


@pytest.fixture(scope="module")
def site(
    served_template: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    from litestar.testing import TestClient

    from bdcert_adapters.service import ServiceSettings, create_app

    directory = tmp_path_factory.mktemp("page") / "ws"
    copy_served(served_template, directory)
    limit = 2 * 1024 * 1024  # above max_request_bytes (1 MiB, for JSON): the page's own limit
    ws = with_settings(directory, f"[service]\nmax_upload_bytes = {limit}\n")
    with Registry.open(ws) as registry:
        issued = push_timeline(registry)
        markup = registry.push(markup_entry(), principal=PLATFORM).certificates[0]
    app = create_app(lambda: Registry.open(ws), ServiceSettings.from_settings(ws.table("service")))
    with TestClient(app) as client:
        yield Site(client, issued, markup, limit)


# ------------------------------------------------------------------ the QR code's status page


def test_a_valid_certificate_says_valid_with_the_disclaimer(site: Site) -> None:
    page = site.get(site.token_url(GENUINE))
    assert "有效" in page.text and "该证书现行有效" in page.text
    assert DISCLAIMER in page.text
    assert GENUINE in page.text
    assert "李*" in page.text  # 李红, masked


def test_a_superseded_certificate_names_its_successor(site: Site) -> None:
    page = site.get(site.token_url(SUPERSEDED))
    assert f"该证书已被 {GENUINE} 取代" in page.text
    assert "已失效" in page.text
    assert DISCLAIMER in page.text


def test_a_cancelled_certificate_gives_the_reason(site: Site) -> None:
    page = site.get(site.token_url(CANCELLED))
    assert "已注销" in page.text and f"该证书已注销，原因：{MASKED_REASON}" in page.text
    assert DISCLAIMER in page.text


def test_a_seized_certificate_says_so_and_stays_valid(site: Site) -> None:
    page = site.get(site.token_url(SEIZED))
    assert "已被查封" in page.text and "成都市武侯区人民法院" in page.text
    assert "证书仍然有效" in page.text


def test_no_full_name_of_a_person_and_no_id_number_appears(site: Site) -> None:
    for number in (GENUINE, SUPERSEDED, CANCELLED, SEIZED):
        page = site.get(site.token_url(number))
        assert "*" in page.text
        for person in PERSONS:
            assert person not in page.text, (number, person)
        for holder in site.issued[number].certificate.holders:
            assert holder.id_number is None or holder.id_number not in page.text


def test_an_unknown_token_is_a_404_page(site: Site) -> None:
    page = site.get(PREFIX + "A" * 32, status=404)
    assert "未查询到该证书" in page.text and "没有登记" in page.text


def test_markup_from_the_register_is_shown_as_text(site: Site) -> None:
    page = site.get(PREFIX + site.markup.certificate.token)
    assert MARKUP_ZL in page.text  # as text, every character
    assert "b" not in page.tags
    r = site.client.get(PREFIX + site.markup.certificate.token)
    assert "&lt;script&gt;" in r.text


def test_the_lookup_limit_is_a_friendly_429_page(
    served_template: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    from litestar.testing import TestClient

    from bdcert_adapters.service import ServiceSettings, create_app

    copy_served(served_template, tmp_path / "ws")
    ws = with_settings(tmp_path / "ws", "[lookup]\nmax_lookups = 2\n")
    with Registry.open(ws) as registry:
        line = TIMELINE.read_text(encoding="utf-8").splitlines()[0]
        token = (
            registry.push(json.loads(line), principal=PLATFORM).certificates[0].certificate.token
        )
    app = create_app(lambda: Registry.open(ws), ServiceSettings())
    with TestClient(app) as client:
        site = Site(client, {}, None, 0)  # type: ignore[arg-type]
        site.get(PREFIX + token)
        site.get(PREFIX + token)
        page = site.get(PREFIX + token, status=429)
        assert "查询过于频繁" in page.text and "之后再试" in page.text
        retry = client.get(PREFIX + token).headers["retry-after"]
        assert 0 < int(retry) <= 15 * 60


# ------------------------------------------------------------------ the upload form and result


def test_the_form_posts_a_pdf_or_ofd_file(site: Site) -> None:
    for path in (PREFIX, PREFIX.rstrip("/")):
        r = site.client.get(path)
        assert r.status_code == 200
        assert 'enctype="multipart/form-data"' in r.text
        assert 'action="/v/check"' in r.text and 'method="post"' in r.text
        assert 'type="file"' in r.text and 'accept=".pdf,.ofd' in r.text
        assert 'name="viewport"' in r.text
        site._page(r, 200)


def test_a_genuine_file_passes_every_check(site: Site) -> None:
    page = site.upload(site.issued[GENUINE].pdf)
    assert "证书真实有效" in page.text
    for sentence in ("文件自盖章以来未被修改", "印章属于证书上的登记机构", "该证书现行有效"):
        assert sentence in page.text
    assert "未通过" not in page.text
    assert GENUINE in page.text


def test_a_changed_file_says_it_was_changed_after_sealing(site: Site) -> None:
    page = site.upload(tampered(site.issued[GENUINE].pdf))
    assert "文件在盖章后被修改过" in page.text
    assert "核验未通过" in page.text
    assert "证书真实" not in page.text


def test_a_forged_seal_says_the_seal_is_untrusted(site: Site, tmp_path: Path) -> None:
    page = site.upload(forged_pdf(tmp_path))
    assert "印章不是由受信任的机构签发" in page.text
    assert "核验未通过" in page.text


def test_a_superseded_and_a_cancelled_file_say_so(site: Site) -> None:
    page = site.upload(site.issued[SUPERSEDED].pdf)
    assert f"证书真实，但该证书已被 {GENUINE} 取代" in page.text
    page = site.upload(site.issued[CANCELLED].pdf)
    assert f"该证书已注销，原因：{MASKED_REASON}" in page.text
    page = site.upload(site.issued[SEIZED].pdf)
    assert "已被查封" in page.text and "证书仍然有效" in page.text


def test_no_full_name_of_a_person_appears_in_results(site: Site) -> None:
    for number in (GENUINE, SUPERSEDED, CANCELLED, SEIZED):
        page = site.upload(site.issued[number].pdf)
        for person in PERSONS:
            assert person not in page.text, (number, person)


def test_a_file_name_with_markup_is_shown_as_text(site: Site) -> None:
    name = '<img src=x onerror="alert(1)"><script>alert(2)</script>.pdf'
    page = site.upload(site.issued[GENUINE].pdf, name=name)
    assert name in page.text
    assert "img" not in page.tags


def test_not_a_document_is_a_400_page(site: Site) -> None:
    page = site.upload(b"%PDF-1.7\nnot really", status=400)
    assert "不是电子证照文件" in page.text and "PDF 或 OFD" in page.text
    page = site.upload(b"%PDF-1.7\n" + bytes(site.limit * 3 // 4), status=400)  # > 1 MiB: read
    assert "不是电子证照文件" in page.text and "PDF 或 OFD" in page.text
    page = site.upload(b"", name="empty.ofd", status=400)
    assert "PDF 或 OFD" in page.text


def test_a_form_without_a_file_is_a_400_page(site: Site) -> None:
    r = site.client.post(PREFIX + "check", files={"other": ("x.txt", b"x", "text/plain")})
    assert "没有收到文件" in site._page(r, 400).text
    r = site.client.post(PREFIX + "check", content=b"file=x")
    assert "表单" in site._page(r, 400).text
    truncated = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF'
    )
    r = site.client.post(
        PREFIX + "check",
        content=truncated,
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert "没有收到文件" in site._page(r, 400).text


def test_a_file_over_the_upload_limit_is_a_413_page(site: Site) -> None:
    page = site.upload(b"%PDF-1.7\n" + bytes(site.limit), status=413)
    assert "文件过大" in page.text and "2 MB" in page.text
    page = site.upload(bytes(3 * site.limit), status=413)  # refused by Content-Length
    assert "文件过大" in page.text


def test_paths_outside_the_prefix_stay_problem_documents(site: Site) -> None:
    for method, path in (
        ("GET", "/no-such-page"),
        ("GET", "/v/a/b"),
        ("POST", "/v/somewhere"),
        ("GET", "/api/v1/no-such-operation"),
    ):
        r = site.client.request(method, path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json"), path
    assert site.client.get("/healthz").json()["status"] == "ok"
    root = site.client.get("/", follow_redirects=False)  # the site's root leads to the form
    assert root.status_code == 302 and root.headers["location"] == PREFIX, root.headers


def test_an_ofd_certificate_is_checked_too(tmp_path: Path) -> None:
    """An SM2 workspace issuing OFD (GB/T 33190 with a GB/T 38540 seal): the genuine package
    passes, one with a file added after sealing does not."""
    import zipfile

    from litestar.testing import TestClient

    from bdcert_adapters.cli import main
    from bdcert_adapters.service import ServiceSettings, create_app
    from tests.support import AUTHORITIES, require_shared

    require_shared()
    require_module("tongsuopy", "tongsuopy (pip install -e '.[gm]')", module_level=False)
    directory = tmp_path / "sm2"
    args = ["init", "--demo", "--algorithm", "sm2", "--workspace", str(directory)]
    assert main([*args, "--authorities", str(AUTHORITIES)]) == 0
    line = TIMELINE.read_text(encoding="utf-8").splitlines()[5]  # 绵阳 0000001
    with Registry.open(directory, formats=("pdf", "ofd")) as registry:
        (issued,) = registry.push(json.loads(line), principal=PLATFORM).certificates
    assert issued.ofd is not None
    changed = BytesIO(issued.ofd)
    with zipfile.ZipFile(changed, "a") as package:
        package.writestr("Doc_0/Res/note.xml", "<note>added after sealing</note>")
    with TestClient(create_app(lambda: Registry.open(directory), ServiceSettings())) as client:
        site = Site(client, {}, issued, ServiceSettings().max_upload_bytes)
        page = site.upload(issued.ofd, name="证书.ofd")
        assert "证书真实有效" in page.text and "未通过" not in page.text
        assert issued.certificate.number in page.text
        page = site.upload(changed.getvalue(), name="证书.ofd")
        assert "核验未通过" in page.text and "盖章后" in page.text


def test_uploads_beyond_the_rate_limit_get_a_429_page(
    served_template: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """POST /v/check counts against the caller's address like /api/v1: beyond rate_limit the
    page answers 429 in HTML with Retry-After."""
    from litestar.testing import TestClient

    from bdcert.lifecycle import Registry
    from bdcert_adapters.service import ServiceSettings, create_app

    ws, _ = copy_served(served_template, tmp_path / "ws")
    app = create_app(lambda: Registry.open(ws), ServiceSettings(rate_limit=2))
    with TestClient(app) as client:
        answers = [
            client.post("/v/check", files={"file": ("a.pdf", b"%PDF-1.7\n", "application/pdf")})
            for _ in range(3)
        ]
    assert [r.status_code for r in answers] == [400, 400, 429]
    refused = answers[2]
    assert refused.headers["content-type"].startswith("text/html")
    assert int(refused.headers["Retry-After"]) >= 1
    assert "核验过于频繁" in refused.text
