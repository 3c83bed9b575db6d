"""``bdcert city``: a city's mirror of the provincial library (rule article 12;
:mod:`bdcert_adapters.mirror`).

- ``bdcert city sync --from URL --token TOKEN --authority CODE [--once | --follow]
  [--interval S]``: apply the province's change feed of the city's authority to this workspace
  (``--once``, the default: until the feed is at its end; ``--follow``: then every
  ``--interval`` seconds, until SIGTERM or Ctrl-C). ``--authority`` is required: a mirror serves
  one authority (rule article 12), and events of any other are refused.
- ``bdcert city reconcile --from URL --token TOKEN [--authority CODE]``: compare this library's
  summary with the province's; exit 0 when equal, 1 when different.

The token may come from ``$BDCERT_PROVINCE_TOKEN`` instead of ``--token`` (so that it is not
in the process list).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from typing import Any

from bdcert_adapters.cli.common import add_command, echo, load_workspace, open_session

__all__ = ["province_credentials", "province_options", "register"]

TOKEN_ENV = "BDCERT_PROVINCE_TOKEN"


def register(subparsers: Any) -> None:
    city = subparsers.add_parser(
        "city",
        help="a city's mirror of the provincial library: sync, reconcile (rule article 12)",
        description="a city's mirror of the provincial library (rule article 12)",
    )
    commands = city.add_subparsers(required=True, metavar="COMMAND")
    sync = add_command(
        commands, "sync", "apply the province's change feed of one authority to this workspace"
    )
    province_options(sync, authority_required=True)
    mode = sync.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="until the feed is at its end (default)")
    mode.add_argument("--follow", action="store_true", help="then keep following it")
    sync.add_argument(
        "--interval", type=float, default=10.0, metavar="S", help="seconds between polls (10)"
    )
    sync.set_defaults(func=cmd_sync)
    reconcile = add_command(
        commands, "reconcile", "compare this library with the province's (exit 1 if different)"
    )
    province_options(reconcile)
    reconcile.set_defaults(func=cmd_reconcile)


def province_options(
    c: argparse.ArgumentParser,
    authority_required: bool = False,
    authority_help: str | None = None,
) -> None:
    c.add_argument("--from", dest="from_url", required=True, metavar="URL", help="the province")
    c.add_argument("--token", help=f"API token (default: ${TOKEN_ENV})")
    c.add_argument(
        "--authority",
        metavar="CODE",
        required=authority_required,
        help=authority_help
        or "登记机构 code (djjg) of the city's authority: a mirror serves one authority "
        "(rule article 12); its feed alone is applied, any other authority's event is refused"
        + ("" if authority_required else " (default: every authority the token may read)"),
    )
    c.add_argument("--cert", metavar="PEM", help="TLS client certificate (with its key, or --key)")
    c.add_argument("--key", metavar="PEM", help="the client certificate's private key")
    c.add_argument("--ca", metavar="PEM", help="CA bundle that verifies the province's server")
    c.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds (30)")


def province_credentials(args: argparse.Namespace) -> tuple[str | None, Any]:
    """The token (``--token``, else ``$BDCERT_PROVINCE_TOKEN``) and the client certificate
    (httpx ``cert``: a path, or (certificate, key)) of :func:`province_options`.

    :raises ConfigurationError: neither a token nor a certificate, or a key without one.
    """
    from bdcert.errors import ConfigurationError

    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token is None and args.cert is None:
        raise ConfigurationError(f"give --token (or ${TOKEN_ENV}) or --cert")
    if args.key is not None and args.cert is None:
        raise ConfigurationError("--key needs --cert")
    return token, (args.cert, args.key) if args.key else args.cert


def _client(args: argparse.Namespace) -> Any:
    from bdcert_adapters.client import ProvinceClient

    token, cert = province_credentials(args)
    return ProvinceClient(
        args.from_url, token=token, cert=cert, verify=args.ca, timeout=args.timeout
    )


def cmd_sync(args: argparse.Namespace) -> int:
    from bdcert_adapters.mirror import Mirror

    ws = load_workspace(args)
    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    with _client(args) as province, open_session(args, ws) as session:
        mirror = Mirror(session.registry, province, authority=args.authority)
        if not args.follow:
            count = mirror.sync()
            echo(f"applied {count} events; cursor {mirror.cursor() or '(start)'}")
            return 0
        signal.signal(signal.SIGTERM, stop)
        with contextlib.suppress(KeyboardInterrupt):
            mirror.follow(args.interval, stop=lambda: bool(stopping))
        echo(f"stopped; cursor {mirror.cursor() or '(start)'}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from bdcert_adapters.mirror import Mirror

    ws = load_workspace(args)
    with _client(args) as province, open_session(args, ws) as session:
        found = Mirror(session.registry, province, authority=args.authority).reconcile()
    equal = True
    for r in found:
        if r.equal:
            echo(f"{r.authority}: equal ({r.local.total} certificates, digest {r.local.digest})")
            continue
        equal = False
        echo(f"{r.authority}: different")
        theirs = r.province
        echo(f"  total: here {r.local.total}, province {theirs.get('total')}")
        counts = dict(theirs.get("counts") or {})
        for status in sorted(set(r.local.counts) | set(counts)):
            here, there = r.local.counts.get(status, 0), counts.get(status, 0)
            if here != there:
                echo(f"  {status}: here {here}, province {there}")
        echo(f"  digest: here {r.local.digest}, province {theirs.get('digest')}")
    return 0 if equal and found else 1
