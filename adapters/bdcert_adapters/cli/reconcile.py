"""``bdcert reconcile``: the registry book against what was issued (rule article 9)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import (
    add_command,
    echo,
    lines,
    load_workspace,
    open_session,
    print_json,
    print_table,
)


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers, "reconcile", "compare the registry book with what was issued (rule article 9)"
    )
    c.add_argument("file", metavar="REGISTRY.jsonl", type=Path)
    c.add_argument(
        "--late-after",
        type=float,
        default=24.0,
        metavar="HOURS",
        help="a certificate sealed later than this after 登簿时间 is late (24)",
    )
    c.add_argument("--json", action="store_true")
    c.add_argument("--operator", help="who asks (an auditor; default: default_operator)")
    c.set_defaults(func=cmd_reconcile)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from bdcert.wire import loads

    ws = load_workspace(args)
    book = []
    for line_no, text in lines(args.file):
        try:
            book.append(loads(text))  # a repeated key is an error, not last-wins
        except (ValueError, RecursionError):
            book.append({"ywh": f"(line {line_no}: not JSON)"})
    with open_session(args, ws) as session:
        principal = session.principal(args.operator)
        findings = session.registry.reconcile(
            book, principal=principal, late_after=timedelta(hours=args.late_after)
        )
    per_authority: dict[str, dict[str, int]] = {}
    for f in findings:
        counts = per_authority.setdefault(f.authority_code or "?", {})
        counts[f.finding] = counts.get(f.finding, 0) + 1
        if args.json:
            print_json(
                {
                    "ywh": f.business_number,
                    "djjg": f.authority_code,
                    "finding": f.finding,
                    "detail": f.detail,
                    "delay_hours": None
                    if f.delay is None
                    else round(f.delay.total_seconds() / 3600, 2),
                }
            )
    if not args.json:
        kinds = ("issued", "late", "processed", "missing", "different")
        print_table(
            "reconcile: registry book against issued certificates",
            ("authority", *kinds),
            [
                (code, *(str(counts.get(k, 0)) for k in kinds))
                for code, counts in sorted(per_authority.items())
            ],
            column_options={"authority": {}, **{k: {"justify": "right"} for k in kinds}},
        )
        for f in findings:
            if f.finding in ("missing", "different"):
                echo(
                    (f.finding, "red"),
                    f" {f.business_number} ({f.authority_code}): {f.detail}",
                )
    return 1 if any(f.finding in ("missing", "different") for f in findings) else 0
