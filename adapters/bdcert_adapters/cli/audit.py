"""``bdcert audit``: check, show or checkpoint the tamper-evident audit log (rule article 17)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import (
    add_command,
    aware,
    echo,
    error,
    load_workspace,
    open_session,
    print_json,
)


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers, "audit", "check or show the tamper-evident audit log (rule article 17)"
    )
    c.add_argument("action", choices=("verify", "show", "checkpoint"))
    c.add_argument(
        "--checkpoint",
        dest="checkpoint_files",
        metavar="FILE.pdf",
        type=Path,
        action="append",
        default=[],
        help="verify: also check the log against this checkpoint copy kept elsewhere (repeatable)",
    )
    c.add_argument(
        "--witness",
        dest="witness_files",
        metavar="FILE.pdf",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        help="verify: also check a witness's copy of its countersignature (bdcert witness)",
    )
    c.add_argument(
        "--out", metavar="FILE.pdf", type=Path, help="checkpoint: also write the sealed PDF here"
    )
    c.add_argument("--certificate", metavar="NUMBER", help="show: events about this subject")
    c.add_argument("--principal", metavar="NAME", help="show: events by this actor")
    c.add_argument("--since", type=aware, help="show: from this time (ISO 8601 with offset)")
    c.add_argument("--until", type=aware, help="show: up to this time (ISO 8601 with offset)")
    c.add_argument(
        "--json",
        action="store_true",
        help="show: one JSON object per event; checkpoint: the checkpoint as JSON",
    )
    c.add_argument("--operator", help="who asks (an auditor; default: default_operator)")
    c.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    ws = load_workspace(args)
    copies: list[tuple[str, bytes]] = []
    witnessed: list[tuple[str, bytes]] = []
    if args.action == "verify":  # every checkpoint copy is read first: an unreadable one is an
        unreadable = False  # error line each, and the log is not verified against the rest
        for file in [*args.checkpoint_files, *args.witness_files]:
            try:
                (witnessed if file in args.witness_files else copies).append(
                    (str(file), file.read_bytes())
                )
            except OSError as exc:
                error(f"{file}: {exc}")
                unreadable = True
        if unreadable:
            return 2
    with open_session(args, ws) as session:
        registry = session.registry
        principal = session.principal(args.operator)
        if args.action == "verify":
            broken = registry.verify_audit(
                principal=principal, checkpoints=copies, witnesses=witnessed
            )
            for message in broken:
                echo(("BROKEN", "red"), f" {message}")
            with registry.storage.transaction() as tx:  # what verify_audit checked (witness.py)
                stored = len(tx.countersignatures()) if hasattr(tx, "countersignatures") else 0
            if stored or witnessed:
                echo(
                    f"witnessed checkpoints: {stored} stored countersignature(s) and "
                    f"{len(witnessed)} witness's copy(ies) checked"
                )
            if not broken:
                echo("audit log intact: every record is chained to the one before")
                kept = registry.audit_checkpoints(principal=principal)
                if kept:
                    last = kept[-1]
                    echo(
                        f"{len(kept)} sealed checkpoint(s) hold; the latest, #{last.number}, "
                        f"seals event {last.event_id} ({last.made_at.isoformat()})"
                    )
                else:
                    echo("no sealed checkpoint yet (bdcert audit checkpoint makes one)")
            return 1 if broken else 0
        if args.action == "checkpoint":
            made = registry.checkpoint_audit(principal=principal)
            if args.out:
                args.out.write_bytes(made.pdf)
            record = {
                "number": made.number,
                "event_id": made.event_id,
                "event_hash": made.event_hash,
                "made_at": made.made_at.isoformat(),
                "made_by": made.made_by,
                "authority": made.authority_code,
                "pdf_sha256": made.pdf_sha256,
            }
            if args.json:
                print_json(record)
            else:
                echo(
                    f"audit checkpoint #{made.number} sealed by {made.authority_code}: event "
                    f"{made.event_id}, hash {made.event_hash}"
                    + (f"; PDF written to {args.out}" if args.out else "")
                )
            return 0
        events = registry.audit_log(
            principal=principal,
            subject=args.certificate,
            actor=args.principal,
            since=args.since,
            until=args.until,
        )
    for e in events:
        record = {
            "at": e.at.isoformat(),
            "action": e.action,
            "actor": e.actor,
            "subject": e.subject,
            "details": dict(e.details),
        }
        if args.json:
            print_json(record)
        else:
            echo(f"{record['at']}  {e.action:<9} {e.actor:<18} {e.subject}")
    return 0
