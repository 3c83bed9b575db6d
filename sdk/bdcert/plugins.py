"""Plugin manager: discovery through the ``bdcert`` entry-point group, and typed registries.

``make_plugin_manager()`` returns a fresh manager on every call; nothing is loaded at import time.
The built-in plugins are registered through the same entry-point group a third party uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import pluggy

from bdcert import hookspecs
from bdcert.codes import NATIONAL_2024, CodeTables
from bdcert.errors import ConfigurationError

__all__ = [
    "DEFAULT_PLUGINS",
    "Hooks",
    "ProviderRegistry",
    "make_plugin_manager",
]

#: Modules of the built-in plugins, each also declared in the ``bdcert`` entry-point group.
DEFAULT_PLUGINS = (
    "bdcert_plugins.storage_sql",
    "bdcert_plugins.seal_software",
    "bdcert_plugins.seal_pkcs11",
    "bdcert_plugins.seal_remote",
    "bdcert_plugins.seal_sm2",
    "bdcert_plugins.identity_local",
    "bdcert_plugins.identity_tokens",
    "bdcert_plugins.notify_log",
    "bdcert_plugins.notify_webhook",
)

F = TypeVar("F")


def make_plugin_manager(*, load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A new plugin manager with the hook specs and every installed plugin.

    :param load_entrypoints: load the ``bdcert`` entry-point group (built-ins and third parties).
        With False, only the hook specs are added (for tests that register plugins by hand).
    :raises pluggy.PluginValidationError: if a plugin implements a hook that does not exist.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        pm.check_pending()
    return pm


class ProviderRegistry(Generic[F]):
    """Named factories collected from a ``bdcert_register_*`` hook."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._factories: dict[str, F] = {}

    def register(self, name: str, factory: F) -> None:
        if name in self._factories:
            raise ConfigurationError(f"two plugins register the {self.what} {name!r}")
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def get(self, name: str) -> F:
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(self.names()) or "none installed"
            raise ConfigurationError(
                f"unknown {self.what} plugin {name!r} (known: {known})"
            ) from None


class Hooks:
    """Typed access to a plugin manager's hooks."""

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else make_plugin_manager()

    def _collect(self, hook_name: str, what: str) -> ProviderRegistry[Any]:
        registry: ProviderRegistry[Any] = ProviderRegistry(what)
        getattr(self.pm.hook, hook_name)(register=registry.register)
        return registry

    def storage(self) -> ProviderRegistry[Any]:
        return self._collect("bdcert_register_storage", "storage")

    def seal_providers(self) -> ProviderRegistry[Any]:
        return self._collect("bdcert_register_seal_providers", "seal provider")

    def identity_providers(self) -> ProviderRegistry[Any]:
        return self._collect("bdcert_register_identity_providers", "identity provider")

    def notifiers(self) -> ProviderRegistry[Any]:
        return self._collect("bdcert_register_notifiers", "notifier")

    def code_tables(self, edition: str) -> CodeTables:
        """The tables of ``edition`` from a plugin, else the national ones for ``national-2024``.

        :raises ConfigurationError: for an edition nobody provides.
        """
        tables = self.pm.hook.bdcert_code_tables(edition=edition)
        if tables is not None:
            return tables  # type: ignore[no-any-return]
        if edition == NATIONAL_2024.edition:
            return NATIONAL_2024
        raise ConfigurationError(f"no plugin provides code tables {edition!r}")

    def certificate_event(self, event: Any) -> None:
        self.pm.hook.bdcert_certificate_event(event=event)

    def plugin_names(self) -> Mapping[str, str]:
        """Registered plugin name -> module or object name, for ``bdcert plugins``."""
        return {name: getattr(p, "__name__", repr(p)) for name, p in self.pm.list_name_plugin()}
