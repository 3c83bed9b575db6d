"""Webhook notifier: POSTs each certificate event as JSON, signed with HMAC-SHA256.

Settings (``[notifiers.webhook]``, with ``"webhook"`` in ``[notifiers] plugins``)::

    [notifiers.webhook]
    url = "https://bank.example/bdcert/events"
    secret_env = "BDCERT_WEBHOOK_SECRET"   # the environment variable holding the HMAC secret
    timeout = 5                            # seconds, per attempt (connect, read, write each)
    retries = 3                            # attempts in all before giving up
    backoff = 0.5                          # seconds before the 2nd attempt; doubles each time

The request body is the UTF-8 JSON object ``{"event": kind, "number": …, "ywh": …, "djjg": …,
"at": ISO 8601 time (+08:00), "details": {…}}``, with the headers

``X-Bdcert-Signature``
    ``sha256=`` and the lower-case hex HMAC-SHA256 of the exact body bytes, keyed with the
    secret (check it with :func:`verify_signature`, as GitHub-style webhooks do);
``X-Bdcert-Event``
    the event kind (``issued``, ``superseded``, ``cancelled``, ``restricted``);
``X-Bdcert-Delivery``
    an id of the event (a UUID derived from the body): the same for every attempt and every
    re-delivery of one event, so a receiver can drop duplicates;
``Content-Type``
    ``application/json``.

A 2xx answer delivers the event. Connection errors, timeouts, 5xx and 429 are tried again after
``backoff``, 2 × ``backoff``, … seconds (at most 60 s; a longer ``Retry-After`` is honoured up to
that) until ``retries`` attempts have failed; any other answer (3xx, 4xx) fails at once. Then
:class:`~bdcert.errors.NotificationError` is raised and the registry keeps the event in the
store's outbox for re-delivery. Redirects are not followed. The secret never appears in a
message, a log line or the notifier's ``repr``; neither do the URL's query and password.

Needs the ``webhook`` extra: ``pip install 'bdcert[webhook]'`` (httpx, tenacity).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bdcert.config import unknown_settings
from bdcert.errors import ConfigurationError, MissingDependency, NotificationError
from bdcert.hookspecs import hookimpl
from bdcert.model import CHINA_TZ, CertificateEvent

if TYPE_CHECKING:
    import httpx
    import tenacity

__all__ = [
    "MAX_BACKOFF",
    "SIGNATURE_HEADER",
    "WebhookNotifier",
    "bdcert_register_notifiers",
    "event_body",
    "sign",
    "verify_signature",
]

logger = logging.getLogger("bdcert.notify.webhook")

SIGNATURE_HEADER = "X-Bdcert-Signature"
#: The longest wait between two attempts, in seconds.
MAX_BACKOFF = 60.0
_SETTINGS = frozenset({"url", "secret_env", "timeout", "retries", "backoff"})
#: Namespace of the ``X-Bdcert-Delivery`` UUIDs (uuid5 of the body).
_DELIVERY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "webhook.bdcert.invalid")


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Bdcert-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """True when ``header`` (``X-Bdcert-Signature``) is the signature of ``body`` with ``secret``.

    For receivers: pass the raw request body, before any JSON parsing. Compares in constant time;
    a malformed header is False.
    """
    if not isinstance(header, str) or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(
        sign(secret, body).encode("ascii"), header.strip().encode("ascii", "replace")
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.isoformat()
    return moment.astimezone(CHINA_TZ).isoformat()


def event_body(event: CertificateEvent) -> bytes:
    """The request body for ``event``: compact UTF-8 JSON, keys in a fixed order."""
    payload = {
        "event": event.kind,
        "number": event.number,
        "ywh": event.business_number,
        "djjg": event.authority_code,
        "at": _iso(event.at),
        "details": dict(event.details),
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return text.encode("utf-8")


def _redact(url: str) -> str:
    """``url`` without its password, query and fragment (they may carry credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":?"
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{query}"


class _Retryable(Exception):
    """An answer worth another attempt (5xx, 429); carries the wait the server asked for."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Permanent(Exception):
    """An answer that another attempt would not change (3xx, 4xx other than 429)."""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: use our own backoff
    return max(0.0, seconds)


def _load_dependencies() -> tuple[Any, Any]:
    try:
        import httpx
        import tenacity
    except ModuleNotFoundError as exc:
        raise MissingDependency(
            f"the webhook notifier needs {exc.name!r}: pip install 'bdcert[webhook]'"
        ) from exc
    return httpx, tenacity


class WebhookNotifier:
    """Delivers certificate events to one URL (see the module docstring).

    :param url: ``http://`` or ``https://`` URL.
    :param secret: the HMAC key; kept out of ``repr`` and every message.
    :param timeout: seconds per attempt. :param retries: attempts in all (1 or more).
    :param backoff: seconds before the second attempt; doubles after each failure.
    :param transport: an httpx transport, for tests (e.g. ``httpx.MockTransport``).
    :param sleep: how to wait between attempts (tests pass a recorder).
    :param secret_env: the environment variable the secret came from, for ``repr``.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        secret_env: str | None = None,
    ) -> None:
        self._httpx, self._tenacity = _load_dependencies()
        _check_url(url)
        if not secret:
            raise ConfigurationError("notifiers.webhook: the HMAC secret is empty")
        if retries < 1:
            raise ConfigurationError("notifiers.webhook.retries must be 1 or more")
        if timeout <= 0 or backoff < 0:
            raise ConfigurationError("notifiers.webhook: timeout must be > 0 and backoff >= 0")
        self.url = url
        self._secret = bytes(secret)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self._transport = transport
        self._sleep = sleep
        self._secret_env = secret_env

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], workspace: Path, **kwargs: Any
    ) -> WebhookNotifier:
        """The notifier a ``[notifiers.webhook]`` table describes; reads the secret from the
        environment variable ``secret_env`` now.

        :raises ConfigurationError: naming unknown settings, a missing or non-HTTP ``url``, an
            unset ``secret_env`` variable (by name) and out-of-range numbers.
        :raises MissingDependency: if httpx or tenacity is not installed.
        """
        _load_dependencies()
        problems = unknown_settings("notifiers.webhook", settings, _SETTINGS)
        url = settings.get("url")
        if not isinstance(url, str) or not url.strip():
            problems.append("url is required (the http:// or https:// address to POST to)")
        else:
            try:
                _check_url(url.strip())
            except ConfigurationError as exc:
                problems.append(str(exc).removeprefix("notifiers.webhook."))
        env = settings.get("secret_env")
        secret = b""
        if not isinstance(env, str) or not env.strip():
            problems.append("secret_env is required (the environment variable holding the secret)")
        else:
            secret = os.environ.get(env.strip(), "").encode("utf-8")
            if not secret:
                problems.append(f"secret_env: the environment variable {env.strip()} is not set")
        timeout = _number(settings, "timeout", 5.0, problems, minimum=0.0, inclusive=False)
        backoff = _number(settings, "backoff", 0.5, problems, minimum=0.0, inclusive=True)
        retries = settings.get("retries", 3)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
            problems.append("retries must be a whole number of attempts, 1 or more")
        if problems:
            raise ConfigurationError("notifiers.webhook: " + "; ".join(problems))
        assert isinstance(url, str) and isinstance(env, str)
        return cls(
            url.strip(),
            secret,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            secret_env=env.strip(),
            **kwargs,
        )

    def __repr__(self) -> str:
        source = f", secret_env={self._secret_env!r}" if self._secret_env else ""
        return (
            f"WebhookNotifier(url={_redact(self.url)!r}{source}, timeout={self.timeout}, "
            f"retries={self.retries}, backoff={self.backoff})"
        )

    def notify(self, event: CertificateEvent) -> None:
        """POST ``event``; return once a 2xx answer came.

        :raises NotificationError: when every attempt failed, or at once for a 3xx or 4xx
            answer other than 429; the message names the URL (without query) and the last
            failure.
        """
        hx, tn = self._httpx, self._tenacity  # the modules, imported when the notifier was made
        body = event_body(event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "bdcert-webhook",
            "X-Bdcert-Event": event.kind,
            "X-Bdcert-Delivery": str(uuid.uuid5(_DELIVERY_NAMESPACE, body.decode("utf-8"))),
            SIGNATURE_HEADER: sign(self._secret, body),
        }
        where = _redact(self.url)
        attempts = 0

        def post(client: httpx.Client) -> None:
            nonlocal attempts
            attempts += 1
            response = client.post(self.url, content=body, headers=headers)
            status = response.status_code
            if 200 <= status < 300:
                return
            if status == 429 or status >= 500:
                raise _Retryable(
                    f"HTTP {status}", _retry_after(response.headers.get("Retry-After"))
                )
            raise _Permanent(f"HTTP {status}")

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, _Retryable | hx.TransportError)

        def log_retry(state: tenacity.RetryCallState) -> None:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            logger.warning(
                "webhook %s: attempt %d of %d for %s failed (%s); trying again in %.1f s",
                where,
                state.attempt_number,
                self.retries,
                event.number,
                _describe(error, self.url),
                wait,
            )

        retrying = tn.Retrying(
            stop=tn.stop_after_attempt(self.retries),
            wait=self._wait,
            retry=tn.retry_if_exception(retryable),
            before_sleep=log_retry,
            sleep=self._sleep if self._sleep is not None else tn.nap.sleep,
            reraise=True,
        )
        try:
            with hx.Client(
                timeout=self.timeout, transport=self._transport, follow_redirects=False
            ) as client:
                retrying(post, client)
        except (_Retryable, _Permanent, hx.HTTPError) as exc:
            raise NotificationError(
                f"webhook {where}: {event.kind} event of {event.number} not delivered after "
                f"{attempts} attempt{'s' if attempts != 1 else ''}: {_describe(exc, self.url)}"
            ) from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        wait = self.backoff * (2 ** (state.attempt_number - 1))
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            wait = max(wait, error.retry_after)
        return float(min(wait, MAX_BACKOFF))


def _describe(error: BaseException | None, url: str) -> str:
    """A short reason naming the failure: never a header or the secret, the URL redacted."""
    if error is None:
        return "unknown error"
    if isinstance(error, _Retryable | _Permanent):
        return str(error)
    name = type(error).__name__
    text = str(error).strip().replace(url, _redact(url))
    return f"{name}: {text}" if text else name


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigurationError(
            f"notifiers.webhook.url has a bad port: {_redact(url)!r}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"notifiers.webhook.url must be an http:// or https:// URL, not {_redact(url)!r}"
        )


def _number(
    settings: Mapping[str, Any],
    key: str,
    default: float,
    problems: list[str],
    *,
    minimum: float,
    inclusive: bool,
) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{key} must be a number of seconds")
        return default
    if value < minimum or (not inclusive and value == minimum):
        problems.append(f"{key} must be {'at least' if inclusive else 'more than'} {minimum:g} s")
        return default
    return float(value)


@hookimpl
def bdcert_register_notifiers(register: Any) -> None:
    """Register the ``webhook`` notifier."""
    register("webhook", WebhookNotifier.from_settings)
