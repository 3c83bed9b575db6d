"""``bdcert agreements`` and ``bdcert share``: sharing agreements and the queries they
allow (rule article 16)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bdcert_adapters.cli.common import (
    add_command,
    echo,
    error,
    open_session,
    print_fields,
    print_json,
    print_table,
)


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers, "agreements", "add, list or revoke sharing agreements (rule article 16)"
    )
    verbs = c.add_subparsers(required=True, metavar="ACTION")

    def verb(name: str, help_: str) -> argparse.ArgumentParser:
        v = verbs.add_parser(name, help=help_, description=help_)
        v.add_argument("--workspace", metavar="DIR", help="workspace directory")
        v.add_argument("--json", action="store_true")
        v.add_argument("--operator", help="who acts (default: the workspace's default_operator)")
        return v

    v = verb("add", "add a signed sharing agreement (the platform)")
    v.add_argument("--id", help="the agreement's identifier (default: a new SA-… id)")
    v.add_argument("--party", required=True, help="the sharing party's operator/principal name")
    v.add_argument("--purpose", required=True, help="what the data is for, as signed")
    v.add_argument(
        "--authority",
        dest="authorities",
        action="append",
        required=True,
        metavar="CODE",
        help="an authority code (djjg) it covers; repeat for several",
    )
    v.add_argument(
        "--field",
        dest="fields",
        action="append",
        required=True,
        metavar="FIELD",
        help="a granted field (number, status, holders, unit_numbers, … or a face key such as "
        "zl, qlr); repeat for several",
    )
    v.add_argument("--valid-from", required=True, help="YYYY-MM-DD (China time) or ISO time")
    v.add_argument("--valid-to", required=True, help="YYYY-MM-DD (to its end) or ISO time")
    v.add_argument("--signed-on", required=True, help="YYYY-MM-DD")
    v.set_defaults(func=cmd_agreements_add)
    v = verb("list", "list sharing agreements (revoked ones included)")
    v.add_argument("--party", help="only this party's")
    v.set_defaults(func=cmd_agreements_list)
    v = verb("revoke", "revoke a sharing agreement from now on (the platform)")
    v.add_argument("agreement_id", metavar="ID")
    v.add_argument("--reason", required=True, help="why it is revoked")
    v.set_defaults(func=cmd_agreements_revoke)

    c = add_command(
        subparsers, "share", "a sharing party's query: the fields its agreement grants (article 16)"
    )
    c.add_argument("number", metavar="NUMBER")
    c.add_argument("--operator", required=True, help="the sharing party")
    c.add_argument("--agreement", metavar="ID", help="the agreement to use (default: the newest)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_share)


def cmd_agreements_add(args: argparse.Namespace) -> int:
    raw = {
        "id": args.id,
        "party": args.party,
        "purpose": args.purpose,
        "authorities": args.authorities,
        "fields": args.fields,
        "valid_from": args.valid_from,
        "valid_to": args.valid_to,
        "signed_on": args.signed_on,
    }
    with open_session(args) as session:
        registry = session.registry
        principal = session.principal(args.operator)
        agreement = registry.add_agreement(raw, principal=principal)
    if args.json:
        print_json(agreement.to_wire())
    else:
        echo(f"agreement {agreement.id} added for {agreement.party}")
    return 0


def cmd_agreements_list(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        registry = session.registry
        principal = session.principal(args.operator)
        found = registry.agreements(principal=principal, party=args.party)
        now = registry.clock()
    if args.json:
        for a in found:
            print_json({**a.to_wire(), "state": a.state(now)})
        return 0
    if not found:
        echo("no sharing agreements")
        return 0
    rows, styles = [], []
    for a in found:
        state = a.state(now)
        if a.revoked_at is not None:
            state += f" ({a.revoke_reason})"
        rows.append(
            (
                a.id,
                a.party,
                a.purpose,
                ", ".join(a.authorities),
                ", ".join(a.fields),
                f"{a.valid_from:%Y-%m-%d %H:%M} – {a.valid_to:%Y-%m-%d %H:%M}",
                a.signed_on.isoformat(),
                state,
            )
        )
        styles.append(None if a.state(now) == "active" else "dim")
    print_table(
        "sharing agreements (rule article 16)",
        ("id", "party", "purpose", "authorities", "fields", "valid", "signed", "state"),
        rows,
        row_styles=styles,
    )
    return 0


def cmd_agreements_revoke(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        registry = session.registry
        principal = session.principal(args.operator)
        agreement = registry.revoke_agreement(
            args.agreement_id, reason=args.reason, principal=principal
        )
    if args.json:
        print_json(agreement.to_wire())
    else:
        echo(f"agreement {agreement.id} revoked: {agreement.revoke_reason}")
    return 0


def cmd_share(args: argparse.Namespace) -> int:
    from bdcert.errors import IdentityError, NotFound

    with open_session(args) as session:
        principal = session.principal(args.operator)
        try:
            shared = session.registry.share(
                args.number, principal=principal, agreement_id=args.agreement
            )
        except (IdentityError, NotFound) as exc:  # PermissionDenied is an IdentityError
            error(str(exc), label="refused")
            return 1
    if args.json:
        print_json(shared.to_wire())
        return 0
    rows = []
    for key, value in shared.fields.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        rows.append((key, "" if value is None else text))
    print_fields(f"{shared.number} (agreement {shared.agreement_id})", ("field", "value"), rows)
    return 0
