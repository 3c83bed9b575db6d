"""``bdcert notify --redeliver``: certificate events a notifier could not deliver."""

from __future__ import annotations

import argparse
from typing import Any

from bdcert_adapters.cli.common import add_command, echo, open_session


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers, "notify", "deliver again the certificate events a notifier could not deliver"
    )
    c.add_argument("--redeliver", action="store_true", required=True)
    c.add_argument("--limit", type=int, default=100, help="at most this many events")
    c.add_argument("--operator", help="who acts (default: the workspace's default_operator)")
    c.set_defaults(func=cmd_notify)


def cmd_notify(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        principal = session.principal(args.operator)
        delivered, failed = session.registry.redeliver(principal=principal, limit=args.limit)
    echo(f"delivered: {delivered}  still undelivered: {failed}")
    return 1 if failed else 0
