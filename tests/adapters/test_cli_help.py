"""What ``--help`` tells a new user about the service-side commands (found missing once)."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from bdcert_adapters.cli import main


def _help(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main([*args, "--help"])
    assert done.value.code == 0
    return " ".join(out.getvalue().split())  # argparse wraps lines


def test_serve_help_names_the_verification_page_and_its_url() -> None:
    text = _help("serve")
    for words in ("GET /v/{token}", "GET /v/", "POST /v/check", "verification_base_url + token"):
        assert words in text, words


def test_witness_takes_the_token_from_the_environment_and_tls_options() -> None:
    text = _help("witness")
    for option in ("--token", "$BDCERT_PROVINCE_TOKEN", "--cert", "--key", "--ca", "--authority"):
        assert option in text, option
    assert "witnessing authority" in text


def test_every_audit_option_is_described() -> None:
    text = _help("audit")
    assert re.search(r"--json \S", text) and "one JSON object per event" in text, text
