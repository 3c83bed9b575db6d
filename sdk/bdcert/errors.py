"""Errors raised by bdcert.

Every error derives from :class:`BdcertError`; each family names the part of the system that failed::

    BdcertError
    ├── ConfigurationError (ValueError)       bad workspace file, unknown plugin, missing font
    │   └── MissingDependency (ImportError)   an optional extra is not installed
    ├── ValidationError (ValueError)          a registration entry is not acceptable; carries every Problem
    │   └── IdempotencyConflict               same ywh pushed again with different content
    ├── StorageError                          the store failed or is inconsistent
    │   └── NotFound (KeyError)               no such certificate / registration
    ├── RenderError                           the certificate face could not be drawn
    │   └── MissingGlyph                      a character no configured font can draw
    ├── SealingError                          a seal provider could not seal
    │   └── SealServiceUnavailable            a remote e-seal service is down or slow: queue and retry later
    ├── IdentityError                         authentication failed
    │   ├── PermissionDenied (PermissionError)  an authenticated principal may not do this (rule art. 11, 17)
    │   └── TooManyAttempts                   an identity is locked after repeated failed proofs (art. 13)
    └── NotificationError                     a notifier could not deliver an event
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "BdcertError",
    "ConfigurationError",
    "IdempotencyConflict",
    "IdentityError",
    "MissingDependency",
    "MissingGlyph",
    "NotFound",
    "NotificationError",
    "PermissionDenied",
    "Problem",
    "RenderError",
    "SealServiceUnavailable",
    "SealingError",
    "StorageError",
    "TooManyAttempts",
    "ValidationError",
]


class BdcertError(Exception):
    """Root of every error bdcert raises on purpose."""


class ConfigurationError(BdcertError, ValueError):
    """The workspace configuration, a plugin choice or a resource path is wrong."""


class MissingDependency(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


@attrs.define(frozen=True)
class Problem:
    """One thing wrong with an input.

    :ivar field: path of the offending field in the wire format, e.g. ``qlr[0].zjh``;
        ``""`` for the entry as a whole.
    :ivar message: what is wrong, for a registry clerk to read.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field or '(entry)'}: {self.message}"


class ValidationError(BdcertError, ValueError):
    """An input was rejected. ``problems`` lists every problem found, each with its field path.

    A rejected registration entry stores nothing and consumes no certificate number.
    """

    def __init__(self, problems: Iterable[Problem], *, subject: str = "") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.subject = subject
        head = f"{subject}: " if subject else ""
        count = len(self.problems)
        body = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{head}{count} problem{'s' if count != 1 else ''}: {body}")

    @property
    def fields(self) -> tuple[str, ...]:
        """The field paths of every problem, in the order found."""
        return tuple(p.field for p in self.problems)


class IdempotencyConflict(ValidationError):
    """The business number (业务号 ``ywh``) was already pushed with different content."""


class StorageError(BdcertError):
    """The store failed, or refused an operation that would make it inconsistent."""


class NotFound(StorageError, KeyError):
    """No record with the given key (certificate number, token, business number)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "not found"


class RenderError(BdcertError):
    """The certificate face could not be drawn."""


class MissingGlyph(RenderError):
    """A character of a face item cannot be drawn by any configured font.

    :ivar characters: the characters, each as the character itself (e.g. ``"𪚥"``).
    :ivar field: the face item that holds them.
    """

    def __init__(self, characters: Iterable[str], field: str) -> None:
        self.characters = tuple(dict.fromkeys(characters))
        self.field = field
        names = ", ".join(f"{c} (U+{ord(c):04X})" for c in self.characters)
        super().__init__(f"no configured font can draw {names} in {field}")


class SealingError(BdcertError):
    """A seal provider could not produce a seal (key unavailable, certificate expired, …)."""


class SealServiceUnavailable(SealingError):
    """A remote e-seal service did not answer in time, even after retries (transient).

    Nothing was sealed and nothing stored; the caller can queue the work and push it again later.
    A refusal (wrong token, unknown authority, bad request) is a plain :class:`SealingError`.

    :ivar url: the service's base URL (never with credentials).
    :ivar retry_after: seconds the service asked clients to wait (``Retry-After``), or None if it
        said nothing (it was unreachable, timed out, or answered 502/503/504 without the header).
    """

    def __init__(self, message: str, *, url: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only arguments: pickle them explicitly
        return (_unavailable, (str(self), self.url, self.retry_after))


def _unavailable(message: str, url: str, retry_after: float | None) -> SealServiceUnavailable:
    return SealServiceUnavailable(message, url=url, retry_after=retry_after)


class IdentityError(BdcertError):
    """Authentication failed (rule article 11)."""


class PermissionDenied(IdentityError, PermissionError):
    """An authenticated principal is not allowed to perform an action (rule article 17)."""


class TooManyAttempts(IdentityError):
    """Too many failed attempts to prove an identity (a holder's self-download, rule article 13):
    the identity, name or source is locked and no proof is checked until ``locked_until``
    (aware, China time), or, when it is None, until a clerk unlocks it; also too many lookups
    from one client (rule article 14), until ``locked_until``."""

    def __init__(self, message: str, *, locked_until: datetime | None) -> None:
        super().__init__(message)
        self.locked_until = locked_until

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only arguments: pickle them explicitly
        return (_too_many, (str(self), self.locked_until))


def _too_many(message: str, locked_until: datetime | None) -> TooManyAttempts:
    return TooManyAttempts(message, locked_until=locked_until)


class NotificationError(BdcertError):
    """A notifier could not deliver an event."""
