"""Every pluggy hook specification of bdcert.

Hooks discover, provider objects act: the ``bdcert_register_*`` hooks hand factories for objects
implementing the protocols of :mod:`bdcert.protocols` to a ``register`` callback; the event hook is
called on every plugin and its results are ignored. Specs may gain arguments, never lose them.
Plugins are found through the ``bdcert`` entry-point group (built-ins included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from bdcert.codes import CodeTables
    from bdcert.model import CertificateEvent
    from bdcert.protocols import (
        IdentityProviderFactory,
        NotifierFactory,
        SealProviderFactory,
        StorageFactory,
    )

PROJECT = "bdcert"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["PROJECT", "hookimpl", "hookspec"]


@hookspec
def bdcert_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register storage back-ends.

    :param register: call ``register(name, factory)`` once per back-end; ``factory(settings,
        workspace)`` returns a :class:`~bdcert.protocols.Storage`. ``name`` is what the workspace
        file's ``[storage] plugin`` selects.
    :returns: nothing; results are ignored.
    :raises ConfigurationError: (from ``register``) if the name is already taken.
    """


@hookspec
def bdcert_register_seal_providers(register: Callable[[str, SealProviderFactory], None]) -> None:
    """Register seal providers (software keys, HSMs, remote e-seal services).

    :param register: call ``register(name, factory)``; ``factory(settings, workspace)`` returns a
        :class:`~bdcert.protocols.SealProvider`, selected by ``[seal] plugin``.
    :returns: nothing; results are ignored.
    :raises ConfigurationError: (from ``register``) if the name is already taken.
    """


@hookspec
def bdcert_register_identity_providers(
    register: Callable[[str, IdentityProviderFactory], None],
) -> None:
    """Register identity providers.

    :param register: call ``register(name, factory)``; ``factory(settings, workspace)`` returns an
        :class:`~bdcert.protocols.IdentityProvider`, selected by ``[identity] plugin``.
    :returns: nothing; results are ignored.
    :raises ConfigurationError: (from ``register``) if the name is already taken.
    """


@hookspec
def bdcert_register_notifiers(register: Callable[[str, NotifierFactory], None]) -> None:
    """Register notifiers.

    :param register: call ``register(name, factory)``; ``factory(settings, workspace)`` returns a
        :class:`~bdcert.protocols.Notifier`; ``[notifiers] plugins`` lists the active ones.
    :returns: nothing; results are ignored.
    :raises ConfigurationError: (from ``register``) if the name is already taken.
    """


@hookspec(firstresult=True)
def bdcert_code_tables(edition: str) -> CodeTables | None:
    """Provide the code tables of an edition (e.g. a province's override of the national tables).

    :param edition: the edition the workspace asks for, e.g. ``"sichuan-2024"``.
    :returns: the tables, or None if this plugin does not know the edition. The first non-None
        result wins (firstresult); bdcert falls back to its national tables for
        ``"national-2024"``.
    """


@hookspec
def bdcert_certificate_event(event: CertificateEvent) -> None:
    """A certificate was issued, superseded, cancelled or restricted.

    Called on every plugin after the change is committed; results are ignored. An exception
    here is logged and does not undo the change.

    :param event: what happened, to which certificate, when (China time).
    """
