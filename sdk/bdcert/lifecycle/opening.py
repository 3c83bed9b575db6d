"""Building a :class:`~bdcert.lifecycle.Registry` from a workspace (``bdcert.toml``) and the
installed plugins: each part chosen by its table's ``plugin`` setting, the PAdES level handed to
the seal provider, the notifiers checked against ``[notifiers] plugins``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bdcert.audit import AuditSettings
from bdcert.config import DownloadPolicy, LookupPolicy, Workspace
from bdcert.errors import ConfigurationError
from bdcert.lifecycle.services import DeferredRenderer
from bdcert.plugins import Hooks
from bdcert.sealing import DigestSealProvider
from bdcert.sealing.evidence import Evidence

if TYPE_CHECKING:
    from bdcert.render import Renderer

__all__ = ["identity_provider", "registry_arguments"]


def identity_provider(ws: Workspace, hooks: Hooks) -> Any:
    """The identity provider ``[identity]`` of ``ws``'s ``bdcert.toml`` names (default
    ``local``), built as :meth:`~bdcert.lifecycle.Registry.open` builds it: a service rebuilds
    it when ``bdcert.toml`` changes, so added and revoked tokens apply without a restart.

    :raises ConfigurationError: an unknown plugin or a bad setting.
    """
    settings = dict(ws.table("identity"))
    name = str(settings.pop("plugin", "local"))
    return hooks.identity_providers().get(name)(settings, ws.path)


def registry_arguments(
    workspace: Workspace | str | Path | None,
    *,
    hooks: Hooks | None = None,
    clock: Callable[[], datetime] | None = None,
    formats: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of :class:`~bdcert.lifecycle.Registry` for a workspace.

    :raises ConfigurationError: for a missing workspace, unknown plugin or bad setting.
    """
    # fonts (fontTools) are imported when a registry is opened, not when bdcert.lifecycle is,
    # and the renderer (fpdf, segno: ~0.4 s) when it first draws, so commands that only read
    # the register start fast; the [fonts] settings are still checked now
    from bdcert.fonts import font_config_from_settings

    ws = workspace if isinstance(workspace, Workspace) else Workspace.load(workspace)
    fonts = font_config_from_settings(ws.table("fonts"), ws.path)

    def make_renderer() -> Renderer:
        from bdcert.render import Renderer

        return Renderer(fonts)

    hooks = hooks if hooks is not None else Hooks()

    def build(registry: Any, table: str, default: str) -> Any:
        settings = ws.seal_plugin_settings() if table == "seal" else dict(ws.table(table))
        name = str(settings.pop("plugin", default))
        return registry.get(name)(settings, ws.path)

    seal_provider = build(hooks.seal_providers(), "seal", "software")
    if isinstance(seal_provider, DigestSealProvider):  # PAdES: the level is the sealing step's
        seal_provider.use_evidence(
            Evidence.from_settings(
                ws.seal_level,
                ws.table("timestamp"),
                ws.table("revocation"),
                ws.path,
                ws.trust_roots(),
            )
        )

    notifier_settings = dict(ws.table("notifiers"))
    notifier_names = notifier_settings.pop("plugins", ["log"])
    stray = sorted(set(notifier_settings) - set(notifier_names))
    if stray:
        raise ConfigurationError(
            f"[notifiers] has settings for {', '.join(stray)}, which [notifiers] plugins "
            f"does not list ({', '.join(notifier_names)})"
        )
    notifier_registry = hooks.notifiers()
    notifiers = [
        notifier_registry.get(n)(notifier_settings.get(n, {}), ws.path) for n in notifier_names
    ]
    return dict(
        authorities=ws.authorities(),
        codes=hooks.code_tables(ws.code_tables_edition),
        storage=build(hooks.storage(), "storage", "sql"),
        seal_provider=seal_provider,
        identity=identity_provider(ws, hooks),
        notifiers=notifiers,
        renderer=cast("Renderer", DeferredRenderer(make_renderer)),
        trust_roots=ws.trust_roots(),
        verification_base_url=ws.verification_base_url,
        hooks=hooks,
        clock=clock,
        formats=formats if formats is not None else ws.formats,
        backlog_retry=ws.backlog_retry,
        download_policy=DownloadPolicy.from_settings(ws.table("self_download")),
        audit=AuditSettings.from_table(ws.table("audit")),
        lookup_policy=LookupPolicy.from_settings(ws.table("lookup")),
    )
