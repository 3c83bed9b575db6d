"""What a deposited certificate's file shows a reader (:mod:`bdcert.lifecycle.collection`): its
text, as poppler's ``pdftotext`` extracts it, and its QR codes, rendered by ``pdftoppm`` and read
by ``zbarimg`` (poppler-utils and zbar-tools: ``scripts/setup`` installs them). A tool that fails
or takes longer than a minute reads nothing, so the deposit is refused, never let through.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from bdcert.errors import ConfigurationError

__all__ = ["pdf_text", "qr_payloads", "squash", "token_of", "unprinted"]

#: Seconds one external tool (pdftotext, pdftoppm, zbarimg) may take.
_TOOL_TIMEOUT = 60


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigurationError(
            f"checking a deposit needs {name} (poppler-utils, zbar-tools: scripts/setup)"
        )
    return path


def squash(text: str) -> str:
    """``text`` as a file's text is compared: Unicode NFKC, every blank removed."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def unprinted(pdf: bytes, values: Iterable[tuple[str, str]]) -> list[str]:
    """The names of ``values`` (name, value) that the PDF does not print: the
    :func:`squash`-ed text :func:`pdf_text` extracts does not contain the squashed value (an
    empty value is printed by any file)."""
    text = squash(pdf_text(pdf))
    return [name for name, value in values if squash(value) and squash(value) not in text]


def pdf_text(pdf: bytes) -> str:
    """The text ``pdftotext`` extracts from every page (UTF-8); empty when it reads none."""
    try:
        done = subprocess.run(
            [_tool("pdftotext"), "-enc", "UTF-8", "-", "-"],
            input=pdf,
            capture_output=True,
            timeout=_TOOL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:  # a hostile file: nothing read, every value missing
        return ""
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else ""


def qr_payloads(pdf: bytes) -> list[str]:
    """The QR codes on the first page: rendered at 200 dpi by ``pdftoppm``, read by ``zbarimg``;
    none when either tool fails or takes longer than a minute."""
    try:
        return _qr_payloads(pdf)
    except subprocess.TimeoutExpired:
        return []


def _qr_payloads(pdf: bytes) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="bdcert-deposit-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        rendered = subprocess.run(
            [
                *(_tool("pdftoppm"), "-r", "200", "-gray", "-png", "-f", "1", "-l", "1"),
                *(str(source), str(Path(tmp) / "page")),
            ],
            capture_output=True,
            timeout=_TOOL_TIMEOUT,
            check=False,
        )
        pages = sorted(Path(tmp).glob("page*.png"))
        if rendered.returncode != 0 or not pages:
            return []
        read = subprocess.run(
            [_tool("zbarimg"), "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(pages[0])],
            capture_output=True,
            timeout=_TOOL_TIMEOUT,
            check=False,
        )
    return [line for line in read.stdout.decode("utf-8", "replace").splitlines() if line]


def token_of(url: str) -> str:
    """The token of a verification URL: its last path segment."""
    return url.strip().split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
