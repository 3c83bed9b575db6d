"""The plugins plan: a contract for every hook of bdcert (:mod:`bdcert.hookspecs`), run on the
plugin objects a city system or a vendor provides — storage (P-201..P-207, one check per role
protocol), seal provider (P-211..P-217), identity provider (P-221..P-223), notifier
(P-231..P-234).

What it is run on (``bdcert conformance run --plan plugins``):

``--workspace DIR``
    a bdcert workspace: the plan loads the plugins its ``bdcert.toml`` configures through
    bdcert's plugin manager, as ``Registry.open`` builds them, and checks them:

    - storage: the ``[storage]`` plugin, but NEVER on the workspace's database. For bdcert's own
      ``sql`` plugin the kit makes a new SQLite database in its scratch directory for every
      scenario (``BDCERT_DATABASE_URL`` and ``[storage] url`` are not read); any other storage
      plugin needs ``--set storage=module:function``.
    - seal provider: the ``[seal]`` plugin at the workspace's PAdES level; it seals the contract's
      certificate for every authority of the workspace's authorities file (or only
      ``--set seal_authorities=CODE,CODE``), checked against the workspace's ``trust_roots`` and
      every ``--trust ROOT.pem``.
    - identity: the ``[identity]`` plugin; every ``[identity.operators.NAME]`` (credentials
      ``{"operator": NAME}``) and every ``[identity.tokens.NAME]`` is checked against the roles,
      authority and ID number the file gives it. The file holds only token hashes, so each
      token is given as ``--token NAME=TOKEN`` (NAME is the entry's name; a run without the
      token of every entry is refused). Client-certificate entries are checked only through
      ``identity_cases``.
    - notifiers: every notifier of ``[notifiers] plugins`` whose table has a ``url`` (bdcert's
      ``webhook``, or one with the same settings), built with its own settings except ``url``,
      which points at the kit's receiver on 127.0.0.1, and ``secret_env``, which points at an
      environment variable holding the kit's own secret (the workspace's secret is never read).

``--set KEY=VALUE`` (each replaces what the workspace would give for that hook, or stands alone)
    ``storage=module:function``
        ``function(directory: pathlib.Path) -> Storage``: a NEW, EMPTY store each call (one per
        scenario; ``directory`` is a fresh empty scratch directory it may keep its data in). It
        must not be a production database: the scenarios write, roll back and fill it. The kit
        calls ``close()`` on each.
    ``seal_provider=module:function``
        ``function() -> SealProvider``; with the authorities (``--workspace`` or
        ``authorities=FILE.json``, shaped like bdcert's authorities.json) and the trust roots
        (``--trust``).
    ``identity=module:function``
        ``function() -> IdentityProvider``; with ``identity_cases``.
    ``identity_cases=FILE.json``
        a JSON list of ``{"credentials": {...}, "name": "...", "roles": [...], "authority":
        "510100" | null, "id_number": ... | null}``: credentials and the principal they must
        give (``name`` null: any). Added to the workspace's. Credential values other than
        ``operator`` names and ``client_cert_pem`` are secrets (P-223).
    ``notifier=module:function``
        ``function(url: str, secret: bytes) -> Notifier``: a notifier that POSTs each event to
        ``url`` as bdcert's webhook does (JSON body, ``X-Bdcert-Signature: sha256=<HMAC-SHA256
        of the body keyed with secret>``, ``X-Bdcert-Event``, ``X-Bdcert-Delivery``).
    ``authorities=FILE.json``, ``seal_authorities=CODE,CODE``
        as above.

A hook that neither gives is SKIPPED with the option that would give it (a certification run
fails then). Checks report every finding as evidence.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from bdcert_conformance.kit.model import RunOptions

# the checks register themselves when their modules are imported
from bdcert_conformance.plans import (  # noqa: F401
    plugin_identity,
    plugin_notifier,
    plugin_seal,
    plugin_storage,
)
from bdcert_conformance.plans.plugin_subjects import (
    FACTORY_SETTINGS,
    PLAN,
    PluginsContext,
    build_context,
    missing_tokens,
    settings_problems,
)

__all__ = [
    "BROKEN",
    "NAME",
    "ReferenceEnvironment",
    "open_context",
    "problems",
    "reference_context",
    "reference_environment",
    "reference_run",
]

NAME = PLAN


# --------------------------------------------------------------------------- the plan protocol


#: The options this plan reads (others given are a usage error: :func:`kit.runner.run_plan`);
#: it checks its own settings and token names (``problems``).
READS = frozenset({"workspace", "settings", "trust", "tokens"})


def problems(options: RunOptions) -> list[str]:
    """Every missing or bad option, named (empty: the plan can run)."""
    found = settings_problems(options)
    if options.workspace is None and not any(k in options.settings for k in FACTORY_SETTINGS):
        found.append(
            "the plugins plan needs --workspace DIR and/or --set storage=/seal_provider=/"
            "identity=/notifier=module:function"
        )
    if options.workspace is not None and not (Path(options.workspace) / "bdcert.toml").is_file():
        found.append(f"--workspace {options.workspace}: no bdcert.toml there")
    else:
        without = missing_tokens(options)
        if without:
            found.append(
                f"--token NAME=TOKEN missing for the workspace's [identity.tokens] "
                f"{', '.join(without)} (every mapping is checked)"
            )
    return found


@contextlib.contextmanager
def open_context(options: RunOptions, workdir: Path) -> Iterator[PluginsContext]:
    """The plugins under test (:func:`~bdcert_conformance.plans.plugin_subjects.build_context`);
    closes the seal provider at the end when it is closable
    (:class:`~bdcert.protocols.Closable`)."""
    context = build_context(options, workdir)
    try:
        yield context
    finally:
        close = getattr(context.seal.provider if context.seal else None, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()


# --------------------------------------------------------------------------- the self-test


@attrs.frozen
class ReferenceEnvironment:
    """bdcert's own reference plugins: a demo workspace (``workspace``) configured with the
    ``sql`` storage, the ``software`` seal provider on a demo PKI, the ``tokens`` identity
    provider (``tokens``: entry name -> token) and a ``webhook`` notifier."""

    workspace: Path
    tokens: dict[str, str]


def reference_environment(stack: contextlib.ExitStack, workdir: Path) -> ReferenceEnvironment:
    """Make the reference workspace in ``workdir`` (nothing to close)."""
    from bdcert_conformance.plans.plugin_reference import make_reference_workspace

    return make_reference_workspace(Path(workdir))


def reference_options(env: ReferenceEnvironment) -> RunOptions:
    return RunOptions(
        plan=NAME,
        workspace=env.workspace,
        tokens=dict(env.tokens),
        system="bdcert reference plugins",
        vendor="bdcert",
    )


def reference_run(env: ReferenceEnvironment, workdir: Path) -> RunOptions:
    """Run the plan on the reference workspace (every check must pass)."""
    return reference_options(env)


def reference_context(
    env: ReferenceEnvironment, workdir: Path
) -> tuple[RunOptions, PluginsContext]:
    """The reference run's options and context, for a broken implementation to replace one part."""
    options = reference_options(env)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return options, build_context(options, Path(workdir))


def _broken() -> Sequence[Any]:
    from bdcert_conformance.broken.plugins import BROKEN as broken

    return broken


BROKEN = list(_broken())
