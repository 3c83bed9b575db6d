"""The verification page in a real browser: Debian's Chromium, driven by Playwright, against
``bdcert serve`` in its own process on a loopback port.

The QR code is read off a certificate PDF by ``pdftoppm`` and ``zbarimg`` (independent of
bdcert), its URL opened with the test server's scheme and host; then a genuine, a changed, a
superseded and a cancelled certificate are uploaded through the form, as a person would, on a
phone-sized and a desktop window. Screenshots are kept in
``$BDCERT_TEST_ARTEFACTS/verification-page/`` (default ``<repo>/test-artefacts/…``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest

from bdcert.lifecycle import Registry
from bdcert.model import IssuedCertificate
from tests.service.conftest import copy_served
from tests.service.server_process import serve
from tests.service.test_page import (
    CANCELLED,
    DISCLAIMER,
    GENUINE,
    MASKED_REASON,
    PERSONS,
    SEIZED,
    SUPERSEDED,
    push_timeline,
    tampered,
)
from tests.support import REPO, require_module, require_tool, skip_or_fail

require_module("playwright.sync_api", "Playwright (pip install playwright)")

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def artefacts() -> Path:
    root = Path(os.environ.get("BDCERT_TEST_ARTEFACTS") or REPO / "test-artefacts")
    directory = root / "verification-page"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@attrs.define
class Server:
    base: str
    issued: dict[str, IssuedCertificate]
    directory: Path


@pytest.fixture(scope="module")
def server(
    served_template: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``bdcert serve`` over a demo workspace holding the shared timeline's certificates."""
    directory = tmp_path_factory.mktemp("chromium")
    ws, _ = copy_served(served_template, directory / "ws")
    with Registry.open(ws) as registry:
        issued = push_timeline(registry)
    with serve(ws.path, "--host", "127.0.0.1") as base:
        yield Server(base, issued, directory)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium (a persistent context over a fresh profile directory)."""
    if not Path(CHROMIUM).is_file():
        skip_or_fail(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--lang=zh-CN",
            ],
            viewport=PHONE,
            locale="zh-CN",
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    """A browser tab that fails the test on any console error or page error."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.close()
    assert errors == []


def qr_url(pdf: bytes, directory: Path) -> str:
    """The URL in the certificate's QR code, read by pdftoppm and zbarimg."""
    require_tool("pdftoppm")
    zbarimg = require_tool("zbarimg")
    (directory / "cert.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "200", "-f", "1", "-l", "1", "-png", "-singlefile",
         str(directory / "cert.pdf"), str(directory / "page")],
        check=True,
    )  # fmt: skip
    out = subprocess.run(
        [zbarimg, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(directory / "page.png")],
        capture_output=True,
        text=True,
        check=True,
    )
    urls = out.stdout.split()
    assert len(urls) == 1, out.stdout
    return urls[0]


def visible_text(page: Any) -> str:
    text: str = page.inner_text("body")
    assert page.locator("script").count() == 0
    return text


def upload(page: Any, server: Server, name: str, data: bytes, shot: str) -> str:
    path = server.directory / name
    path.write_bytes(data)
    page.goto(server.base + "/v/")
    page.set_input_files("input[type=file]", str(path))
    with page.expect_navigation():
        page.click("button[type=submit]")
    text = visible_text(page)
    assert "文件核验结果" in text
    page.screenshot(path=str(artefacts() / shot), full_page=True)
    return text


def test_scanning_the_qr_code_opens_the_status_page(server: Server, tab: Any) -> None:
    for number, viewport, shot in (
        (SEIZED, PHONE, "status-seized-phone.png"),
        (SUPERSEDED, DESKTOP, "status-superseded-desktop.png"),
    ):
        url = qr_url(server.issued[number].pdf, server.directory)
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path[:3]) == (
            "https",
            "verify.bdcert.invalid",
            "/v/",
        )
        tab.set_viewport_size(viewport)
        response = tab.goto(server.base + parts.path)
        assert response.status == 200
        text = visible_text(tab)
        assert DISCLAIMER in text and number in text
        if number == SEIZED:
            assert "已被查封" in text and "证书仍然有效" in text
        else:
            assert f"已被 {GENUINE} 取代" in text and "已失效" in text
        for person in PERSONS:
            assert person not in text
        tab.screenshot(path=str(artefacts() / shot), full_page=True)
    # readable on a phone without zoom: nothing wider than the screen, text at least 14 px
    tab.set_viewport_size(PHONE)
    tab.goto(server.base + parts.path)
    assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    smallest = tab.evaluate(
        "Math.min(...[...document.querySelectorAll('body *')].filter(e => e.innerText)"
        ".map(e => parseFloat(getComputedStyle(e).fontSize)))"
    )
    assert smallest >= 14


def test_uploading_files_shows_each_result_in_plain_words(server: Server, tab: Any) -> None:
    tab.set_viewport_size(PHONE)
    tab.goto(server.base + "/v/")
    tab.screenshot(path=str(artefacts() / "form-phone.png"), full_page=True)
    box = tab.locator("button[type=submit]").bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 300  # a large tap target

    text = upload(tab, server, "genuine.pdf", server.issued[GENUINE].pdf, "genuine-phone.png")
    assert "证书真实有效" in text and "该证书现行有效" in text and "未通过" not in text

    tab.set_viewport_size(DESKTOP)
    text = upload(
        tab, server, "changed.pdf", tampered(server.issued[GENUINE].pdf), "changed-desktop.png"
    )
    assert "核验未通过" in text and "文件在盖章后被修改过" in text

    text = upload(
        tab, server, "superseded.pdf", server.issued[SUPERSEDED].pdf, "superseded-desktop.png"
    )
    assert f"该证书已被 {GENUINE} 取代" in text

    tab.set_viewport_size(PHONE)
    text = upload(tab, server, "cancelled.pdf", server.issued[CANCELLED].pdf, "cancelled-phone.png")
    assert f"该证书已注销，原因：{MASKED_REASON}" in text
    for person in PERSONS:
        assert person not in text
