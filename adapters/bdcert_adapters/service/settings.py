"""``[service]``: the settings of ``bdcert serve`` (:mod:`bdcert_adapters.service`).

::

    [service]
    max_request_bytes = 1048576      # a JSON body (one entry, an agreement, …)
    max_upload_bytes = 67108864      # an uploaded PDF or OFD (bdcert.bounds.MAX_PDF_BYTES)
    max_batch_bytes = 268435456      # a JSON Lines batch of entries, streamed
    rate_limit = 600                 # requests per client per window (0: none), per worker
    rate_window_seconds = 60
    public_base_url = "https://verify.example.gov.cn"   # where the service is reached

Every key is optional; an unknown or bad key is an error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from bdcert.bounds import MAX_PDF_BYTES
from bdcert.config import unknown_settings
from bdcert.errors import ConfigurationError

__all__ = ["ServiceSettings"]

_INTEGERS = {
    "max_request_bytes": 1024 * 1024,
    "max_upload_bytes": MAX_PDF_BYTES,
    "max_batch_bytes": 256 * 1024 * 1024,
    "rate_limit": 600,
    "rate_window_seconds": 60,
}


@attrs.define(frozen=True)
class ServiceSettings:
    """Limits of the HTTP service.

    :ivar max_request_bytes: bytes of a JSON request body (413 beyond).
    :ivar max_upload_bytes: bytes of an uploaded document (413 beyond).
    :ivar max_batch_bytes: bytes of a JSON Lines batch (413 beyond).
    :ivar rate_limit: requests one client (token, certificate or address) may make per
        ``rate_window_seconds`` (429 beyond); 0 turns the limit off. Counted by each worker
        process in memory (:mod:`~bdcert_adapters.service.limits` says why).
    :ivar rate_window_seconds: the window of ``rate_limit``.
    :ivar public_base_url: the service's public URL, or None (taken from the request).
    """

    max_request_bytes: int = _INTEGERS["max_request_bytes"]
    max_upload_bytes: int = _INTEGERS["max_upload_bytes"]
    max_batch_bytes: int = _INTEGERS["max_batch_bytes"]
    rate_limit: int = _INTEGERS["rate_limit"]
    rate_window_seconds: int = _INTEGERS["rate_window_seconds"]
    public_base_url: str | None = None

    @classmethod
    def from_settings(cls, table: Mapping[str, Any]) -> ServiceSettings:
        """The settings of a ``[service]`` table.

        :raises ConfigurationError: naming every unknown or bad key.
        """
        known = [*_INTEGERS, "public_base_url"]
        problems = unknown_settings("service", table, known)
        values: dict[str, Any] = {}
        for key, default in _INTEGERS.items():
            value = table.get(key, default)
            minimum = 0 if key == "rate_limit" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                problems.append(f"service.{key} must be an integer >= {minimum}, not {value!r}")
            else:
                values[key] = value
        url = table.get("public_base_url")
        if url is not None and (
            not isinstance(url, str) or not url.startswith(("http://", "https://"))
        ):
            problems.append(f"service.public_base_url must be an http(s) URL, not {url!r}")
        if problems:
            raise ConfigurationError("; ".join(problems))
        return cls(**values, public_base_url=url)
