"""What the plugins plan checks: the plugin objects under test and how the plan gets them, from a
bdcert workspace (through bdcert's plugin manager, as ``Registry.open`` builds them) and/or from
factories a vendor names as ``module:function`` settings. See :mod:`bdcert_conformance.plans.plugins`
for the options and settings.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from bdcert.model import Authority, Principal
from bdcert.protocols import SealRequest
from bdcert_conformance.kit.model import KitUsageError, RunOptions, Verdict, skipped

__all__ = [
    "FACTORY_SETTINGS",
    "PLAN",
    "SETTINGS",
    "IdentityCase",
    "IdentitySubject",
    "NotifierSubject",
    "PluginsContext",
    "SealSubject",
    "StorageSubject",
    "build_context",
    "describe",
    "empty_sqlite_store",
    "failing_statement",
    "first_sentence",
    "found_text",
    "load_factory",
    "new_secret",
    "settings_problems",
    "workspace_seal_provider",
]

#: The plan's name.
PLAN = "plugins"
#: The settings naming a factory (``module:function``), by hook.
FACTORY_SETTINGS = ("storage", "seal_provider", "identity", "notifier")
#: Every setting the plan reads.
SETTINGS = (*FACTORY_SETTINGS, "identity_cases", "authorities", "seal_authorities")

#: The environment variable the kit puts its own webhook secret in while it builds a workspace's
#: webhook-style notifier (``secret_env`` is pointed at it: the workspace's secret is never read).
KIT_SECRET_ENV = "BDCERT_CONFORMANCE_WEBHOOK_SECRET"
_ENV_LOCK = threading.Lock()


# --------------------------------------------------------------------------- the subjects


@attrs.define
class StorageSubject:
    """``make(directory) -> Storage``: a new EMPTY store (``directory`` is a fresh, empty scratch
    directory it may use); the kit closes each store."""

    make: Callable[[Path], Any]
    source: str


@attrs.define
class SealSubject:
    """The seal provider, the authorities it must seal for, the trust roots (PEM or DER) its seals
    must chain to. :meth:`sealed` seals the contract's certificate once per authority.

    :ivar signing_time: what every seal request asks to claim: an hour before the run, whole
        seconds, China time — in the past (as a certificate sealed from the backlog claims its
        recording time, rule article 15), yet within any seal certificate in force now.
    """

    provider: Any
    authorities: tuple[Authority, ...]
    trust_roots: tuple[bytes, ...]
    source: str
    signing_time: datetime = attrs.field(factory=lambda: _an_hour_ago())
    _sealed: dict[str, tuple[bytes, SealRequest, bytes]] = attrs.field(factory=dict, init=False)

    def certificate(self, authority: Authority) -> tuple[bytes, SealRequest]:
        """The unsealed contract certificate of ``authority`` and the request to seal it."""
        from bdcert_conformance.seal import render_certificate

        pdf, request = render_certificate(authority)
        return pdf, attrs.evolve(request, signing_time=self.signing_time)

    def sealed(self, authority: Authority) -> tuple[bytes, SealRequest, bytes]:
        """(unsealed PDF, request, sealed PDF) of ``authority``'s contract certificate; sealed on
        first use. :raises: whatever the provider raises."""
        if authority.code not in self._sealed:
            pdf, request = self.certificate(authority)
            result = self.provider.seal_pdf(pdf, request)
            if not isinstance(result, bytes):
                raise TypeError(f"seal_pdf returned {type(result).__name__}, not bytes")
            self._sealed[authority.code] = (pdf, request, result)
        return self._sealed[authority.code]


def _an_hour_ago() -> datetime:
    from bdcert.model import CHINA_TZ

    return (datetime.now(CHINA_TZ) - timedelta(hours=1)).replace(microsecond=0)


def _id_number(value: Any) -> str | None:
    """A 证件号 as :class:`~bdcert.model.Principal` keeps it: stripped, upper-case; blank None."""
    return None if value is None else str(value).strip().upper() or None


@attrs.frozen
class IdentityCase:
    """Credentials and the principal they must authenticate as (``name`` None: any name)."""

    label: str
    credentials: Mapping[str, str] = attrs.field(repr=False)
    name: str | None
    roles: frozenset[str]
    authority: str | None = None
    id_number: str | None = attrs.field(default=None, converter=_id_number)

    def expected(self) -> str:
        return _describe_principal(self.name, self.roles, self.authority, self.id_number)


def _describe_principal(
    name: str | None, roles: frozenset[str], authority: str | None, id_number: str | None
) -> str:
    parts = [f"roles={','.join(sorted(roles))}", f"authority={authority}"]
    if name is not None:
        parts.insert(0, f"name={name}")
    if id_number is not None:
        parts.append(f"id_number={id_number}")
    return " ".join(parts)


def describe(principal: Principal) -> str:
    """A principal as the identity checks' evidence shows it."""
    return _describe_principal(
        principal.name, frozenset(principal.roles), principal.authority, principal.id_number
    )


@attrs.define
class IdentitySubject:
    """The identity provider, the credential cases every mapping is checked with, and the
    secrets (token values, stored token hashes) that must never show in a repr, str or error."""

    provider: Any
    cases: tuple[IdentityCase, ...]
    #: (what it is, the secret): e.g. ("the token of token city-system-510100", "…").
    secrets: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    source: str


@attrs.define
class NotifierSubject:
    """``make(url, secret) -> Notifier``: the notifier delivering to ``url`` (the kit's
    receiver), signing with ``secret`` (bytes)."""

    name: str
    make: Callable[[str, bytes], Any]
    source: str


@attrs.define
class PluginsContext:
    """What every plugins check receives. A part that is None (no notifier: empty) was not given;
    ``missing[part]`` says which option would give it."""

    workdir: Path
    storage: StorageSubject | None = None
    seal: SealSubject | None = None
    identity: IdentitySubject | None = None
    notifiers: tuple[NotifierSubject, ...] = ()
    missing: dict[str, str] = attrs.field(factory=dict)

    def skip(self, part: str) -> Verdict:
        """SKIPPED: ``part`` (``storage``, ``seal``, ``identity``, ``notifier``) was not given;
        the reason names the option that would give it."""
        return skipped(
            f"no {part.replace('seal', 'seal provider')} to check: give {self.missing[part]}"
        )

    def scratch(self, *parts: str) -> Path:
        """A new empty directory under the run's workdir."""
        base = self.workdir.joinpath(*parts)
        for n in range(1, 10_000):
            candidate = base.with_name(f"{base.name}-{n}")
            if not candidate.exists():
                candidate.mkdir(parents=True)
                return candidate
        raise RuntimeError(f"no free scratch directory at {base}")


# --------------------------------------------------------------------------- building it


def load_factory(spec: str, setting: str) -> Callable[..., Any]:
    """The callable ``module:qualified.name`` names.

    :raises KitUsageError: naming the setting, for a malformed spec, a module that does not
        import or a name it lacks.
    """
    module_name, sep, qualname = spec.partition(":")
    if not sep or not module_name or not qualname:
        raise KitUsageError(f"--set {setting}={spec}: not module:function")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise KitUsageError(f"--set {setting}={spec}: cannot import {module_name}: {exc}") from exc
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise KitUsageError(
                f"--set {setting}={spec}: {module_name} has no {qualname}"
            ) from None
    if not callable(target):
        raise KitUsageError(f"--set {setting}={spec}: {qualname} is not callable")
    return target  # type: ignore[no-any-return]


def empty_sqlite_store(directory: Path) -> Any:
    """bdcert's SQL storage on a new SQLite database in ``directory``: the store the kit checks
    the built-in ``sql`` plugin on (never the workspace's own database, nor
    ``BDCERT_DATABASE_URL``)."""
    from bdcert_plugins.storage_sql import SqlStorage

    return SqlStorage(f"sqlite:///{Path(directory).resolve() / 'conformance.sqlite3'}")


def workspace_seal_provider(ws: Any, cls: Any = None) -> Any:
    """The seal provider the workspace ``ws`` configures, built as ``Registry.open`` builds it
    (the ``[seal]`` plugin's factory, then the PAdES level of ``[seal] level``, ``[timestamp]``
    and ``[revocation]``); ``cls`` (a provider class with ``from_settings``) instead of the
    plugin's factory, for the self-test's broken providers."""
    from bdcert.plugins import Hooks
    from bdcert.sealing import DigestSealProvider
    from bdcert.sealing.evidence import Evidence

    settings = ws.seal_plugin_settings()
    name = str(settings.pop("plugin", "software"))
    factory = cls.from_settings if cls is not None else Hooks().seal_providers().get(name)
    provider = factory(settings, ws.path)
    if isinstance(provider, DigestSealProvider):
        provider.use_evidence(
            Evidence.from_settings(
                ws.seal_level, ws.table("timestamp"), ws.table("revocation"), ws.path,
                ws.trust_roots(),
            )
        )  # fmt: skip
    return provider


@contextlib.contextmanager
def kit_secret(secret: bytes) -> Iterator[str]:
    """The kit's webhook secret in :data:`KIT_SECRET_ENV` while a notifier is built."""
    with _ENV_LOCK:
        before = os.environ.get(KIT_SECRET_ENV)
        os.environ[KIT_SECRET_ENV] = secret.decode("ascii")
        try:
            yield KIT_SECRET_ENV
        finally:
            if before is None:
                os.environ.pop(KIT_SECRET_ENV, None)
            else:
                os.environ[KIT_SECRET_ENV] = before


def workspace_notifier(
    factory: Callable[..., Any], settings: Mapping[str, Any], workspace: Path, **kwargs: Any
) -> Callable[[str, bytes], Any]:
    """``make(url, secret)`` for a workspace's webhook-style notifier: its own settings with
    ``url`` and ``secret_env`` pointed at the kit's receiver and the kit's secret."""

    def make(url: str, secret: bytes) -> Any:
        with kit_secret(secret) as env:
            return factory({**settings, "url": url, "secret_env": env}, workspace, **kwargs)

    return make


def new_secret() -> bytes:
    """A fresh webhook secret for one check (ASCII)."""
    return secrets.token_hex(24).encode("ascii")


def settings_problems(options: RunOptions) -> list[str]:
    """Every unknown setting and unreadable factory or file, named."""
    problems = [
        f"--set {key}: not a setting of the plugins plan (known: {', '.join(SETTINGS)})"
        for key in options.settings
        if key not in SETTINGS
    ]
    for key in FACTORY_SETTINGS:
        if key in options.settings:
            try:
                load_factory(options.settings[key], key)
            except KitUsageError as exc:
                problems.append(str(exc))
    for key in ("identity_cases", "authorities"):
        if key in options.settings and not Path(options.settings[key]).is_file():
            problems.append(f"--set {key}={options.settings[key]}: no such file")
    return problems


def _identity_cases(file: Path) -> list[IdentityCase]:
    """Cases from a JSON list of ``{"credentials": {...}, "name": ..., "roles": [...],
    "authority": ..., "id_number": ...}``. :raises KitUsageError:"""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        cases = []
        for i, item in enumerate(data):
            credentials = {str(k): str(v) for k, v in dict(item["credentials"]).items()}
            cases.append(
                IdentityCase(
                    label=str(item.get("label", f"{file.name}[{i}]")),
                    credentials=credentials,
                    name=item.get("name"),
                    roles=frozenset(str(r) for r in item["roles"]),
                    authority=None if item.get("authority") is None else str(item["authority"]),
                    id_number=item.get("id_number"),
                )
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KitUsageError(f"--set identity_cases={file}: {type(exc).__name__}: {exc}") from exc
    return cases


def _secrets_of(cases: Sequence[IdentityCase]) -> list[tuple[str, str]]:
    """The credential values that are secrets (all but operator names and certificates), each
    with what it is."""
    return [
        (f"the {key} of {case.label}", value)
        for case in cases
        for key, value in case.credentials.items()
        if key not in ("operator", "client_cert_pem") and value
    ]


def _workspace_identity_cases(
    table: Mapping[str, Any], tokens: Mapping[str, str]
) -> tuple[list[IdentityCase], list[tuple[str, str]], list[str]]:
    """Cases from a workspace's ``[identity]`` table: every operator, every token entry whose
    token ``tokens`` gives (by entry name); the token hashes (secrets); the entries without one."""
    cases: list[IdentityCase] = []
    hashes: list[tuple[str, str]] = []
    without: list[str] = []

    def principal_fields(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        authority = spec.get("authority")
        return {
            "name": name,
            "roles": frozenset(str(r) for r in spec.get("roles", [])),
            "authority": str(authority) if authority else None,
            "id_number": spec.get("id_number"),
        }

    for name, spec in dict(table.get("operators", {})).items():
        cases.append(
            IdentityCase(
                f"operator {name}", {"operator": str(name)}, **principal_fields(name, spec)
            )
        )
    for name, spec in dict(table.get("tokens", {})).items():
        digest = str(spec.get("sha256", "")).strip()
        if digest:
            what = f"the stored hash of token {name}"
            hashes += [(what, digest.lower()), (what, digest.upper())]
        if name not in tokens:
            without.append(str(name))
            continue
        cases.append(
            IdentityCase(f"token {name}", {"token": tokens[name]}, **principal_fields(name, spec))
        )
    return cases, hashes, without


def build_context(options: RunOptions, workdir: Path) -> PluginsContext:
    """The plugins under test, as the options say (see the plan's docstring).

    :raises KitUsageError: for a workspace that does not load, a factory that does not import,
        a cases file that does not parse.
    """
    from bdcert.config import Workspace, load_authorities
    from bdcert.errors import BdcertError

    settings = options.settings
    context = PluginsContext(workdir=Path(workdir))
    ws = None
    hooks = None
    if options.workspace is not None:
        try:
            ws = Workspace.load(options.workspace)
            from bdcert.plugins import Hooks

            hooks = Hooks()
        except BdcertError as exc:
            raise KitUsageError(f"--workspace {options.workspace}: {exc}") from exc
    where = f"workspace {ws.path}" if ws is not None else ""

    # storage: a factory of empty stores; never the workspace's database
    if "storage" in settings:
        context.storage = StorageSubject(
            load_factory(settings["storage"], "storage"), f"--set storage={settings['storage']}"
        )
    elif ws is not None and str(ws.table("storage").get("plugin", "sql")) == "sql":
        context.storage = StorageSubject(
            empty_sqlite_store, f"{where}: [storage] plugin sql, on a new SQLite database each"
        )
    else:
        context.missing["storage"] = (
            "--set storage=module:function (a factory of EMPTY stores; the kit never writes to "
            "the workspace's database)"
        )

    # seal provider
    authorities: list[Authority] = []
    try:
        if "authorities" in settings:
            authorities = list(load_authorities(Path(settings["authorities"])).values())
        elif ws is not None:
            authorities = list(ws.authorities().values())
        trust = [p.read_bytes() for p in options.trust] + (ws.trust_roots() if ws else [])
    except (BdcertError, OSError) as exc:
        raise KitUsageError(f"authorities or trust roots: {exc}") from exc
    if "seal_authorities" in settings:
        wanted = [c.strip() for c in settings["seal_authorities"].split(",") if c.strip()]
        unknown = sorted(set(wanted) - {a.code for a in authorities})
        if unknown:
            raise KitUsageError(f"--set seal_authorities: {', '.join(unknown)} not in authorities")
        authorities = [a for a in authorities if a.code in wanted]
    provider = None
    if "seal_provider" in settings:
        provider = load_factory(settings["seal_provider"], "seal_provider")()
        source = f"--set seal_provider={settings['seal_provider']}"
    elif ws is not None:
        try:
            provider = workspace_seal_provider(ws)
        except BdcertError as exc:
            raise KitUsageError(f"{where}: [seal]: {exc}") from exc
        source = f"{where}: [seal] plugin {ws.table('seal').get('plugin', 'software')}"
    if provider is None:
        context.missing["seal"] = "--workspace DIR or --set seal_provider=module:function"
    elif not authorities or not trust:
        context.missing["seal"] = (
            "the authorities to seal for (--workspace DIR or --set authorities=FILE.json) and "
            "the trust roots (--trust ROOT.pem or the workspace's trust_roots)"
        )
    else:
        context.seal = SealSubject(provider, tuple(authorities), tuple(trust), source)

    # identity
    cases: list[IdentityCase] = []
    hashes: list[tuple[str, str]] = []
    if "identity_cases" in settings:
        cases += _identity_cases(Path(settings["identity_cases"]))
    identity = None
    if "identity" in settings:
        identity = load_factory(settings["identity"], "identity")()
        source = f"--set identity={settings['identity']}"
    elif ws is not None and hooks is not None:
        from bdcert.lifecycle.opening import identity_provider

        try:
            identity = identity_provider(ws, hooks)
        except BdcertError as exc:
            raise KitUsageError(f"{where}: [identity]: {exc}") from exc
        found, hashes, _ = _workspace_identity_cases(ws.table("identity"), options.tokens)
        cases += found
        source = f"{where}: [identity] plugin {ws.table('identity').get('plugin', 'local')}"
    if identity is None:
        context.missing["identity"] = "--workspace DIR or --set identity=module:function"
    elif not cases:
        context.missing["identity"] = (
            "credentials to check: the workspace's operators or tokens (--token NAME=TOKEN), "
            "or --set identity_cases=FILE.json"
        )
    else:
        context.identity = IdentitySubject(
            identity, tuple(cases), tuple(dict.fromkeys(_secrets_of(cases) + hashes)), source
        )

    # notifiers
    if "notifier" in settings:
        context.notifiers = (
            NotifierSubject(
                settings["notifier"],
                load_factory(settings["notifier"], "notifier"),
                f"--set notifier={settings['notifier']}",
            ),
        )
    elif ws is not None and hooks is not None:
        table = dict(ws.table("notifiers"))
        names = table.pop("plugins", ["log"])
        registry = hooks.notifiers()
        subjects = []
        for name in names:
            own = table.get(name, {})
            if isinstance(own, Mapping) and "url" in own:  # delivers over HTTP, like webhook
                subjects.append(
                    NotifierSubject(
                        name,
                        workspace_notifier(registry.get(name), own, ws.path),
                        f"{where}: [notifiers.{name}] (url and secret_env pointed at the kit's)",
                    )
                )
        context.notifiers = tuple(subjects)
    if not context.notifiers:
        context.missing["notifier"] = (
            "a notifier delivering over HTTP: a workspace whose [notifiers] plugins has one with "
            "a url (e.g. webhook), or --set notifier=module:function"
        )
    return context


def missing_tokens(options: RunOptions) -> list[str]:
    """The workspace's ``[identity.tokens]`` entries no ``--token NAME=TOKEN`` gives."""
    from bdcert.config import Workspace
    from bdcert.errors import BdcertError

    if options.workspace is None or "identity" in options.settings:
        return []
    try:
        ws = Workspace.load(options.workspace)
    except BdcertError:
        return []
    return _workspace_identity_cases(ws.table("identity"), options.tokens)[2]


# --------------------------------------------------------------------------- evidence helpers


def failing_statement(exc: BaseException, file_suffix: str) -> str:
    """The failing statement of ``exc`` inside ``file_suffix`` (else its last frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f.filename.replace("\\", "/").endswith(file_suffix)]
    if not (inside or frames):
        return ""
    frame = (inside or frames)[-1]
    return f"{Path(frame.filename).name} line {frame.lineno}: {(frame.line or '').strip()}"


def found_text(exc: BaseException) -> str:
    """What an exception out of a contract check says was found."""
    text = str(exc).strip()
    if isinstance(exc, AssertionError):
        return text or "assertion failed"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def first_sentence(text: str | None) -> str:
    """The first sentence of a docstring, on one line."""
    return " ".join((text or "").split(". ")[0].split()).rstrip(".")
