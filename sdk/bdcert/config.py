"""The workspace: one directory holding ``bdcert.toml``, keys, the store and the authorities file.

``bdcert.toml`` chooses the plugin for each hook and its settings::

    [bdcert]
    authorities = "authorities.json"        # shaped like shared/data/authorities.json
    code_tables = "national-2024"           # or a province edition a plugin provides
    verification_base_url = "https://verify.example.gov.cn/v/"   # the QR code's URL prefix (ASCII)
    trust_roots = ["pki/root.cert.pem"]     # seal certificates must chain to one of these
    default_operator = "platform"           # who acts when the command line names nobody

    [storage]
    plugin = "sql"
    url = "sqlite:///bdcert.sqlite3"        # BDCERT_DATABASE_URL overrides

    [seal]
    plugin = "software"
    level = "B-LTA"                         # PAdES B-B, B-T, B-LT or B-LTA (the default)
    [seal.authorities.510100]
    key = "pki/510100.key.pem"
    cert = "pki/510100.cert.pem"

    [timestamp]                             # RFC 3161 timestamp authority (B-T and up)
    url = "https://tsa.example.gov.cn/tsr"  # or key + cert + chain: an in-process TSA (demo)

    [revocation]                            # CRLs and OCSP for the seals' validation data
    fetch = true                            # from the certificates' URLs; or crls = [files]

    [identity]
    plugin = "local"
    [identity.operators.platform]
    roles = ["platform"]

    [notifiers]
    plugins = ["log"]

    [fonts]                                 # optional; Debian's Noto CJK + HanaMin by default
    regular = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc#2"

Paths are relative to the workspace directory. Unknown tables or keys are errors naming them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs

from bdcert.errors import ConfigurationError
from bdcert.model import Authority
from bdcert.wire import loads

__all__ = [
    "CONFIG_NAME",
    "WORKSPACE_ENV",
    "DownloadPolicy",
    "LookupPolicy",
    "Workspace",
    "check_settings",
    "load_authorities",
    "unknown_settings",
]

CONFIG_NAME = "bdcert.toml"
WORKSPACE_ENV = "BDCERT_WORKSPACE"

_SCHEMA: dict[str, set[str] | None] = {
    # table -> allowed keys (None: settings belong to the chosen plugin and it checks them)
    "bdcert": {
        "formats",
        "authorities",
        "code_tables",
        "verification_base_url",
        "trust_roots",
        "default_operator",
    },
    "storage": None,
    "seal": None,
    "timestamp": {"url", "timeout", "key", "cert", "chain"},
    "revocation": {"fetch", "crls"},
    "identity": None,
    "notifiers": None,
    "fonts": {"regular", "fallbacks"},
    "audit": {"authority", "checkpoint_every"},
    "backlog": {"retry_first_seconds", "retry_max_seconds"},
    "self_download": {
        "max_failures",
        "window_minutes",
        "lockout_minutes",
        "max_name_failures",
        "max_source_failures",
        "max_lockouts",
    },
    "lookup": {"max_lookups", "window_minutes"},
    # ``bdcert serve`` (bdcert_adapters.service.settings checks its keys)
    "service": None,
}


def unknown_settings(table: str, settings: Iterable[Any], known: Iterable[str]) -> list[str]:
    """One problem per key of ``settings`` not in ``known``, by key: the one message format for
    an unknown setting, ``"<table>.<key> is not a known setting (known: <a>, <b>)"``.

    :param table: the dotted name of the table as written in ``bdcert.toml`` (``storage``,
        ``seal.authorities.510100``, ``identity.tokens.auditor``); empty for the top level of
        the file, whose keys are tables and are named ``[table]``.
    :param settings: the table (a mapping: its keys) or the keys.
    :returns: the problems, empty when every key is known (plugins collect them with their other
        problems; :func:`check_settings` raises them).
    """
    allowed = set(known)
    listed = ", ".join(sorted(allowed)) or "none"
    return [
        f"{f'{table}.{key}' if table else f'[{key}]'} is not a known setting (known: {listed})"
        for key in sorted(map(str, settings))
        if key not in allowed
    ]


def check_settings(table: str, settings: Iterable[Any], known: Iterable[str]) -> None:
    """Refuse a settings table with unknown keys (see :func:`unknown_settings`).

    :raises ConfigurationError: naming every unknown key, ``; ``-separated.
    """
    problems = unknown_settings(table, settings, known)
    if problems:
        raise ConfigurationError("; ".join(problems))


def _numbers(
    table_name: str, table: Mapping[str, Any], specs: Iterable[tuple[str, float, bool]]
) -> tuple[dict[str, Any], list[str]]:
    """The values of a table of positive numbers: (key, default, whole number?) each; and one
    problem per bad value, naming it."""
    values: dict[str, Any] = {}
    bad: list[str] = []
    for key, default, integer in specs:
        value: Any = table.get(key, default)
        number = isinstance(value, int if integer else int | float)
        if isinstance(value, bool) or not number or not value > 0:
            what = "a whole number >= 1" if integer else "a number of minutes > 0"
            bad.append(f"{table_name}.{key} must be {what}, not {value!r}")
        values[key] = value
    return values, bad


@attrs.define(frozen=True)
class DownloadPolicy:
    """How failed self-download attempts are limited (``[self_download]`` in ``bdcert.toml``;
    rule article 13; see :mod:`bdcert.lifecycle.holders`).

    :ivar max_failures: failed attempts that lock an identity (ID number; default 5).
    :ivar window: the span in which they must fall (default 15 minutes).
    :ivar lockout: how long the identity, name or source stays locked (default 30 minutes).
    :ivar max_name_failures: failed attempts, whatever the ID number, that lock a name (default
        10: higher, as a name is shared by many people who are all locked out together).
    :ivar max_source_failures: failed attempts from one source (the client a channel names:
        its remote address, an app's user) that lock that source (default 20).
    :ivar max_lockouts: lockouts of one identity, name or source, since a success or a clerk's
        unlock, after which it stays locked until a clerk unlocks it (default 3): guessing is
        stopped after ``max_lockouts`` x the limit failures, not merely slowed.
    """

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=30)
    max_name_failures: int = 10
    max_source_failures: int = 20
    max_lockouts: int = 3

    @classmethod
    def from_settings(cls, table: Mapping[str, Any]) -> DownloadPolicy:
        """The policy of a ``[self_download]`` table: ``max_failures``, ``max_name_failures``,
        ``max_source_failures`` and ``max_lockouts`` (integers >= 1), ``window_minutes`` and
        ``lockout_minutes`` (numbers > 0).

        :raises ConfigurationError: naming every bad or unknown key.
        """
        bad = unknown_settings("self_download", table, _SCHEMA["self_download"] or ())
        values, problems = _numbers(
            "self_download",
            table,
            (
                ("max_failures", 5, True),
                ("window_minutes", 15, False),
                ("lockout_minutes", 30, False),
                ("max_name_failures", 10, True),
                ("max_source_failures", 20, True),
                ("max_lockouts", 3, True),
            ),
        )
        bad += problems
        if bad:
            raise ConfigurationError("; ".join(bad))
        return cls(
            max_failures=int(values["max_failures"]),
            window=timedelta(minutes=float(values["window_minutes"])),
            lockout=timedelta(minutes=float(values["lockout_minutes"])),
            max_name_failures=int(values["max_name_failures"]),
            max_source_failures=int(values["max_source_failures"]),
            max_lockouts=int(values["max_lockouts"]),
        )


@attrs.define(frozen=True)
class LookupPolicy:
    """How often one client may look certificates up (``[lookup]`` in ``bdcert.toml``; rule
    article 14 with article 16's information protection): at most ``max_lookups`` lookups
    within any ``window``, per client (see :meth:`bdcert.lifecycle.Registry.lookup`).

    :ivar max_lookups: lookups per client per window (default 30).
    :ivar window: the span (default 10 minutes).
    """

    max_lookups: int = 30
    window: timedelta = timedelta(minutes=10)

    @classmethod
    def from_settings(cls, table: Mapping[str, Any]) -> LookupPolicy:
        """The policy of a ``[lookup]`` table: ``max_lookups`` (an integer >= 1) and
        ``window_minutes`` (a number > 0).

        :raises ConfigurationError: naming every bad or unknown key.
        """
        bad = unknown_settings("lookup", table, _SCHEMA["lookup"] or ())
        values, problems = _numbers(
            "lookup", table, (("max_lookups", 30, True), ("window_minutes", 10, False))
        )
        bad += problems
        if bad:
            raise ConfigurationError("; ".join(bad))
        return cls(
            max_lookups=int(values["max_lookups"]),
            window=timedelta(minutes=float(values["window_minutes"])),
        )


@attrs.define(frozen=True)
class Workspace:
    """A loaded workspace. :ivar path: its directory. :ivar settings: the parsed TOML."""

    path: Path
    settings: Mapping[str, Any]

    @classmethod
    def locate(cls, path: str | os.PathLike[str] | None = None) -> Path:
        """The workspace directory: ``path``, else ``$BDCERT_WORKSPACE``, else ``./bdcert-workspace``."""
        if path is not None:
            return Path(path)
        return Path(os.environ.get(WORKSPACE_ENV, "bdcert-workspace"))

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Workspace:
        """Read ``bdcert.toml`` from the workspace directory.

        :raises ConfigurationError: if it is missing (the message says to run
            ``bdcert init --demo``), unreadable, or has unknown tables or keys.
        """
        directory = cls.locate(path).resolve()
        file = directory / CONFIG_NAME
        if not file.is_file():
            raise ConfigurationError(
                f"no workspace at {directory} ({CONFIG_NAME} missing): "
                "run `bdcert init --demo --workspace DIR` first"
            )
        try:
            settings = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read {file}: {exc}") from exc
        bad = unknown_settings("", settings, _SCHEMA)
        for table, value in settings.items():
            if table not in _SCHEMA:
                continue
            allowed = _SCHEMA[table]
            if not isinstance(value, Mapping):
                bad.append(f"{table} must be a table")
            elif allowed is not None:
                bad.extend(unknown_settings(table, value, allowed))
        if bad:
            raise ConfigurationError(f"{file}: {'; '.join(bad)}")
        return cls(path=directory, settings=settings)

    def table(self, name: str) -> Mapping[str, Any]:
        value = self.settings.get(name, {})
        return value if isinstance(value, Mapping) else {}

    def seal_plugin_settings(self) -> dict[str, Any]:
        """The ``[seal]`` table as the seal provider plugin checks it: without ``level`` (the
        PAdES baseline level, read by :meth:`seal_level`)."""
        settings = dict(self.table("seal"))
        settings.pop("level", None)
        return settings

    @property
    def seal_level(self) -> str | None:
        """``[seal] level``: the PAdES baseline level of seals (None: not set, the default
        ``B-LTA`` of :mod:`bdcert.sealing.evidence`)."""
        value = self.table("seal").get("level")
        return None if value is None else str(value)

    def resolve(self, relative: str) -> Path:
        """A path from the settings, relative to the workspace directory."""
        p = Path(relative)
        return p if p.is_absolute() else self.path / p

    def authorities(self) -> dict[str, Authority]:
        """Authorities by code, from the file named by ``bdcert.authorities``.

        :raises ConfigurationError: if the file is missing or malformed.
        """
        file = self.resolve(str(self.table("bdcert").get("authorities", "authorities.json")))
        return load_authorities(file)

    def trust_roots(self) -> list[bytes]:
        """The trust-root certificates (PEM or DER bytes) seals must chain to."""
        names = self.table("bdcert").get("trust_roots", [])
        roots = []
        for name in names:
            file = self.resolve(str(name))
            try:
                roots.append(file.read_bytes())
            except OSError as exc:
                raise ConfigurationError(f"trust root {file} cannot be read: {exc}") from exc
        return roots

    @property
    def verification_base_url(self) -> str:
        url = str(
            self.table("bdcert").get("verification_base_url", "https://verify.bdcert.invalid/v/")
        )
        if not url.isascii():
            raise ConfigurationError(
                "bdcert.verification_base_url must be ASCII (it goes in QR codes)"
            )
        return url

    @property
    def formats(self) -> tuple[str, ...]:
        """Document formats to issue: ``["pdf"]`` (default) or ``["pdf", "ofd"]``."""
        value = self.table("bdcert").get("formats", ["pdf"])
        return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)

    @property
    def backlog_retry(self) -> tuple[float, float]:
        """``[backlog]`` retry_first_seconds (default 30) and retry_max_seconds (default 3600):
        a backlog whose sealing failed is tried again after the first, doubling up to the max.

        :raises ConfigurationError: unless both are positive numbers, first <= max.
        """
        table = self.table("backlog")
        first, most = table.get("retry_first_seconds", 30), table.get("retry_max_seconds", 3600)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (first, most))
        if not numbers or not 0 < first <= most:
            raise ConfigurationError(
                "[backlog] retry_first_seconds and retry_max_seconds must be positive numbers "
                f"with first <= max, not {first!r} and {most!r}"
            )
        return float(first), float(most)

    @property
    def code_tables_edition(self) -> str:
        return str(self.table("bdcert").get("code_tables", "national-2024"))

    @property
    def default_operator(self) -> str | None:
        value = self.table("bdcert").get("default_operator")
        return None if value is None else str(value)


def load_authorities(file: Path) -> dict[str, Authority]:
    """Authorities by code from a JSON list shaped like ``shared/data/authorities.json``.

    :raises ConfigurationError: naming the file and every entry that is malformed.
    """
    try:
        data = loads(file.read_text(encoding="utf-8"))  # a repeated key is an error (issue 9)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"authorities file {file} cannot be read: {exc}") from exc
    if not isinstance(data, list):
        raise ConfigurationError(f"authorities file {file} must hold a JSON list")
    out: dict[str, Authority] = {}
    bad = []
    for i, item in enumerate(data):
        missing = [
            k
            for k in ("djjg", "mc", "sfjc", "szmc", "tyshxydm")
            if not isinstance(item, dict) or not item.get(k)
        ]
        if missing:
            bad.append(f"[{i}] missing {', '.join(missing)}")
            continue
        authority = Authority.from_wire(item)
        if authority.code in out:
            bad.append(f"[{i}] repeats djjg {authority.code}")
        out[authority.code] = authority
    if bad:
        raise ConfigurationError(f"authorities file {file}: {'; '.join(bad)}")
    return out
