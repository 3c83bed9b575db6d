"""``bdcert tokens``: API tokens of the service's callers, in the workspace's ``bdcert.toml``.

- ``bdcert tokens add NAME --role ROLE [--role …] [--authority CODE] [--id-number N]`` makes a
  random token (256 bits, :func:`bdcert_plugins.identity_tokens.new_token`), writes only its
  SHA-256 under ``[identity.tokens.NAME]`` and prints the token, alone, on stdout — the one time
  it is shown (``TOKEN=$(bdcert tokens add city-510100 --role registrar --authority 510100)``).
  A workspace on ``[identity] plugin = "local"`` is switched to ``"tokens"``; its
  ``[identity.operators]`` stay, for ``--operator`` on this host's command line.
- ``bdcert tokens list``: the tokens' names, roles, authorities (never a hash).
- ``bdcert tokens revoke NAME``: removes the token; the next request with it is a 401 (a running
  ``bdcert serve`` reads the workspace when a worker starts: restart it).

The file is edited with tomlkit, so its comments and layout stay; the new settings are checked
by the identity plugin before anything is written.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import add_command, echo, load_workspace

__all__ = ["register"]


def register(subparsers: Any) -> None:
    group = add_command(
        subparsers,
        "tokens",
        "API tokens of the service's callers (bdcert serve): add, list, revoke",
    )
    actions = group.add_subparsers(dest="tokens_action", required=True, metavar="ACTION")
    add = add_command(actions, "add", "make a token, store its SHA-256, print the token")
    add.add_argument("name", metavar="NAME", help="the caller's name (the principal)")
    add.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        help="a role: registrar, platform, auditor, holder, sharing_party, … (repeatable)",
    )
    add.add_argument("--authority", help="a registrar's authority code (登记机构), e.g. 510100")
    add.add_argument("--id-number", help="a holder's 证件号: their own certificates in full")
    add.set_defaults(func=cmd_add)
    listing = add_command(actions, "list", "list the tokens' names and roles")
    listing.set_defaults(func=cmd_list)
    revoke = add_command(actions, "revoke", "remove a token")
    revoke.add_argument("name", metavar="NAME")
    revoke.set_defaults(func=cmd_revoke)


def _read(path: Path) -> Any:
    import tomlkit

    return tomlkit.parse(path.read_text(encoding="utf-8"))


def _check(document: Any, workspace: Path) -> None:
    """The identity plugin's own check of the new ``[identity]`` (ConfigurationError)."""
    from bdcert_plugins.identity_tokens import TokenIdentityProvider

    TokenIdentityProvider.from_settings(document["identity"].unwrap(), workspace)


def _write(path: Path, document: Any) -> None:
    """Replace the file atomically, keeping its permissions."""
    import tomlkit

    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=".bdcert.toml.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tomlkit.dumps(document))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _identity(document: Any) -> Any:
    import tomlkit

    from bdcert.errors import ConfigurationError

    if "identity" not in document:
        document["identity"] = tomlkit.table()
        document["identity"]["plugin"] = "tokens"
    identity = document["identity"]
    plugin = str(identity.get("plugin", "local"))
    if plugin == "local":
        identity["plugin"] = "tokens"  # the operators stay, for the command line
    elif plugin != "tokens":
        raise ConfigurationError(
            f'[identity] plugin = "{plugin}": bdcert tokens manages the "tokens" plugin only'
        )
    return identity


def cmd_add(args: argparse.Namespace) -> int:
    import tomlkit

    from bdcert.errors import ConfigurationError
    from bdcert_plugins.identity_tokens import hash_token, new_token

    ws = load_workspace(args)
    path = ws.path / "bdcert.toml"
    document = _read(path)
    identity = _identity(document)
    if "tokens" not in identity:
        identity.append("tokens", tomlkit.table(is_super_table=True))
    if args.name in identity["tokens"]:
        raise ConfigurationError(
            f"{args.name} already has a token; bdcert tokens revoke {args.name} first"
        )
    token = new_token()
    entry = tomlkit.table()
    entry["sha256"] = hash_token(token)
    entry["roles"] = sorted(set(args.roles))
    if args.authority:
        entry["authority"] = args.authority
    if args.id_number:
        entry["id_number"] = args.id_number
    entry.add(tomlkit.nl())
    identity["tokens"][args.name] = entry
    _check(document, ws.path)
    _write(path, document)
    echo(token)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    ws = load_workspace(args)
    identity = ws.table("identity")
    tokens = identity.get("tokens", {}) if identity.get("plugin") == "tokens" else {}
    for name, spec in tokens.items():
        roles = ",".join(spec.get("roles", []))
        extra = [f"{k}={spec[k]}" for k in ("authority", "id_number") if k in spec]
        echo("\t".join([name, roles, *extra]))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from bdcert.errors import ConfigurationError

    ws = load_workspace(args)
    path = ws.path / "bdcert.toml"
    document = _read(path)
    tokens = document.get("identity", {}).get("tokens", {})
    if args.name not in tokens:
        raise ConfigurationError(f"no token named {args.name}")
    del tokens[args.name]
    _write(path, document)
    echo(f"revoked the token of {args.name}")
    return 0
