"""The ``webhook`` notifier, against a real HTTP receiver on 127.0.0.1 and httpx.MockTransport.

The receiver checks every signature with its own HMAC computation (the ``hmac`` module), not
with the notifier's :func:`verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pluggy
import pytest

from bdcert.errors import ConfigurationError, MissingDependency, NotificationError
from bdcert.model import CHINA_TZ, CertificateEvent
from bdcert.plugins import Hooks
from bdcert.protocols import Notifier
from bdcert_plugins.notify_webhook import WebhookNotifier, event_body, verify_signature

SECRET = "webhook-s3cret-7d1e0a9c"
ENV = "BDCERT_TEST_WEBHOOK_SECRET"
NUMBER = "川(2024)成都市不动产权第0000001号"
EVENT = CertificateEvent(
    kind="superseded",
    number=NUMBER,
    business_number="YWH-2024-0002",
    authority_code="510100",
    at=datetime(2024, 3, 5, 10, 21, tzinfo=CHINA_TZ),
    details={"successors": ["川(2024)成都市不动产权第0000002号"]},
)


# -- a real receiver -------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 answering with scripted statuses (then 200)."""

    def __init__(self) -> None:
        self.script: list[int | tuple[int, dict[str, str]]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # seconds: a stuck client cannot hang the test

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if headers.get("x-bdcert-signature") != f"sha256={expected}":
                    receiver.bad_signatures += 1
                receiver.requests.append((headers, body))
                answer = receiver.script.pop(0) if receiver.script else 200
                status, extra = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/bdcert?key=k"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)


class Sleeps(list[float]):
    """Records the waits between attempts instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make(url: str, sleeps: Sleeps | None = None, **settings: Any) -> WebhookNotifier:
    return WebhookNotifier.from_settings(
        {"url": url, "secret_env": ENV, **settings},
        Path("."),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


# -- delivery --------------------------------------------------------------------------------


def test_delivers_signed_json(receiver: Receiver) -> None:
    notifier = make(receiver.url)
    assert isinstance(notifier, Notifier)
    notifier.notify(EVENT)
    ((headers, body),) = receiver.requests
    assert receiver.bad_signatures == 0
    assert headers["content-type"] == "application/json"
    assert headers["x-bdcert-event"] == "superseded"
    assert uuid.UUID(headers["x-bdcert-delivery"])
    assert json.loads(body) == {
        "event": "superseded",
        "number": NUMBER,
        "ywh": "YWH-2024-0002",
        "djjg": "510100",
        "at": "2024-03-05T10:21:00+08:00",
        "details": {"successors": ["川(2024)成都市不动产权第0000002号"]},
    }
    assert NUMBER.encode() in body  # UTF-8 as itself, not \\u escapes


def test_retries_5xx_with_backoff_then_delivers(receiver: Receiver) -> None:
    receiver.script = [503, 503, 200]
    sleeps = Sleeps()
    make(receiver.url, sleeps, backoff=0.25).notify(EVENT)
    assert len(receiver.requests) == 3
    assert receiver.bad_signatures == 0
    assert sleeps == [0.25, 0.5]
    deliveries = {headers["x-bdcert-delivery"] for headers, _ in receiver.requests}
    bodies = {body for _, body in receiver.requests}
    assert len(deliveries) == 1 and len(bodies) == 1  # one event, the same request each time


def test_always_500_fails_after_retries_attempts(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script = [500] * 10
    sleeps = Sleeps()
    with pytest.raises(NotificationError) as raised:
        make(receiver.url, sleeps, retries=4, backoff=1).notify(EVENT)
    assert len(receiver.requests) == 4
    assert sleeps == [1, 2, 4]
    message = str(raised.value)
    assert "after 4 attempts" in message and "HTTP 500" in message and NUMBER in message
    assert "key=k" not in message  # the query may carry credentials
    assert len([r for r in caplog.records if "trying again" in r.getMessage()]) == 3


def test_429_is_retried_and_retry_after_is_honoured(receiver: Receiver) -> None:
    receiver.script = [(429, {"Retry-After": "3"}), 200]
    sleeps = Sleeps()
    make(receiver.url, sleeps, backoff=0.5).notify(EVENT)
    assert len(receiver.requests) == 2
    assert sleeps == [3.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 302])
def test_other_4xx_and_redirects_fail_at_once(receiver: Receiver, status: int) -> None:
    receiver.script = [(status, {"Location": "http://127.0.0.1:1/"})]
    sleeps = Sleeps()
    with pytest.raises(NotificationError, match=f"after 1 attempt: HTTP {status}"):
        make(receiver.url, sleeps).notify(EVENT)
    assert len(receiver.requests) == 1 and sleeps == []


def test_closed_port_fails_after_retries_attempts() -> None:
    sleeps = Sleeps()
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(NotificationError, match="after 3 attempts: ConnectError") as raised:
        make(url, sleeps, timeout=2).notify(EVENT)
    assert sleeps == [0.5, 1.0]
    assert url in str(raised.value)


def test_timeouts_are_retried() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(204)

    notifier = WebhookNotifier(
        "https://hooks.example/bdcert",
        SECRET.encode(),
        transport=httpx.MockTransport(handler),
        sleep=Sleeps(),
    )
    notifier.notify(EVENT)
    assert len(calls) == 2
    header = calls[1].headers["X-Bdcert-Signature"]
    expected = hmac.new(SECRET.encode(), calls[1].content, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"


def test_a_real_read_timeout_is_bounded(receiver: Receiver) -> None:
    """The receiver holds the request; the notifier gives up after ``timeout`` per attempt."""
    release = threading.Event()
    original = receiver.server.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

    def slow(handler: Any) -> None:
        release.wait(5)
        original(handler)

    receiver.server.RequestHandlerClass.do_POST = slow  # type: ignore[attr-defined]
    try:
        with pytest.raises(NotificationError, match="ReadTimeout"):
            make(receiver.url, retries=2, timeout=0.2).notify(EVENT)
    finally:
        release.set()


# -- secrecy ---------------------------------------------------------------------------------


def test_secret_never_appears_in_repr_errors_or_logs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.script = [500] * 3
    notifier = make(receiver.url)
    assert SECRET not in repr(notifier) and ENV in repr(notifier)
    with pytest.raises(NotificationError) as raised:
        notifier.notify(EVENT)
    with pytest.raises(NotificationError) as closed:
        make(f"http://127.0.0.1:{free_port()}/").notify(EVENT)
    with pytest.raises(ConfigurationError) as bad:
        WebhookNotifier.from_settings({"url": "ftp://x", "secret_env": ENV, "x": 1}, Path("."))
    for text in (str(raised.value), str(closed.value), str(bad.value), caplog.text):
        assert SECRET not in text
    assert not [v for v in vars(notifier).values() if isinstance(v, str) and SECRET in v]


# -- the signature, for receivers ------------------------------------------------------------


def test_verify_signature() -> None:
    body = event_body(EVENT)
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert verify_signature(SECRET.encode(), body, good)
    assert not verify_signature(SECRET.encode(), body + b" ", good)
    assert not verify_signature(b"other secret", body, good)
    assert not verify_signature(SECRET.encode(), body, good.removeprefix("sha256="))
    assert not verify_signature(SECRET.encode(), body, "sha1=" + good[7:])
    assert not verify_signature(SECRET.encode(), body, "sha256=zz")
    assert not verify_signature(SECRET.encode(), body, "sha256=€")
    assert not verify_signature(SECRET.encode(), body, "")


def test_body_carries_any_details_as_json() -> None:
    event = CertificateEvent(
        "restricted",
        NUMBER,
        "YWH-CF-1",
        "510100",
        datetime(2024, 4, 1, 9, 0, tzinfo=CHINA_TZ),
        {"term": (date(2024, 4, 1), date(2027, 3, 31)), "area": Decimal("89.47"), "n": 1},
    )
    assert json.loads(event_body(event))["details"] == {
        "term": ["2024-04-01", "2027-03-31"],
        "area": "89.47",
        "n": 1,
    }


def test_delivery_id_is_per_event() -> None:
    seen: list[str] = []
    transport = httpx.MockTransport(
        lambda request: seen.append(request.headers["X-Bdcert-Delivery"]) or httpx.Response(200)
    )
    notifier = WebhookNotifier("http://h.example/", b"k", transport=transport)
    other = CertificateEvent("issued", NUMBER, "Y", "510100", EVENT.at)
    notifier.notify(EVENT)
    notifier.notify(EVENT)
    notifier.notify(other)
    assert seen[0] == seen[1] != seen[2]


# -- settings and registration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"uri": "http://x/"}, "uri is not a known setting"),
        ({}, "url is required"),
        ({"url": "ftp://hooks.example/"}, "http:// or https://"),
        ({"url": "http://h:port/"}, "bad port"),
        (
            {"url": "http://h/", "secret_env": "BDCERT_NO_SUCH_VARIABLE"},
            "BDCERT_NO_SUCH_VARIABLE is not set",
        ),
        ({"url": "http://h/", "secret_env": ""}, "secret_env is required"),
        ({"url": "http://h/", "timeout": 0}, "timeout must be more than 0"),
        ({"url": "http://h/", "timeout": "5"}, "timeout must be a number"),
        ({"url": "http://h/", "backoff": -1}, "backoff must be at least 0"),
        ({"url": "http://h/", "retries": 0}, "retries must be"),
        ({"url": "http://h/", "retries": True}, "retries must be"),
    ],
)
def test_bad_settings_are_configuration_errors(settings: dict[str, Any], expected: str) -> None:
    full = {"secret_env": ENV, **settings}
    with pytest.raises(ConfigurationError, match=expected):
        WebhookNotifier.from_settings(full, Path("."))


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tenacity", None)
    with pytest.raises(MissingDependency, match=r"bdcert\[webhook\]"):
        WebhookNotifier.from_settings({"url": "http://h/", "secret_env": ENV}, Path("."))


def test_hook_registers_the_webhook_notifier(pm: pluggy.PluginManager, receiver: Receiver) -> None:
    factory = Hooks(pm).notifiers().get("webhook")
    notifier = factory({"url": receiver.url, "secret_env": ENV, "retries": 1}, Path("."))
    assert notifier.name == "webhook"
    notifier.notify(EVENT)
    assert len(receiver.requests) == 1 and receiver.bad_signatures == 0
