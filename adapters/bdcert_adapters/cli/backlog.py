"""``bdcert backlog`` and ``bdcert report delays``: entries that waited for sealing
(rule article 15)."""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bdcert_adapters.cli.common import add_command, echo, open_session, print_json, print_table

if TYPE_CHECKING:
    from bdcert.protocols import BacklogItem


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers, "backlog", "entries waiting for sealing to be possible (rule article 15)"
    )
    c.add_argument("action", choices=("list", "drain"))
    c.add_argument("--authority", metavar="CODE", help="only this authority's backlog")
    c.add_argument(
        "--state",
        choices=("waiting", "issued", "rejected"),
        help="list: only items in this state (default: all)",
    )
    c.add_argument(
        "--watch",
        action="store_true",
        help="drain: keep trying, with the backoff, until nothing waits (Ctrl-C stops)",
    )
    c.add_argument("--json", action="store_true")
    c.add_argument("--operator", help="who acts (default: the workspace's default_operator)")
    c.set_defaults(func=cmd_backlog)

    c = add_command(subparsers, "report", "reports for the rule's explanations")
    c.add_argument("report", choices=("delays",), help="delays: certificates issued late")
    c.add_argument("--authority", metavar="CODE", help="only this authority")
    c.add_argument("--json", action="store_true")
    c.add_argument("--operator", help="who asks (default: the workspace's default_operator)")
    c.set_defaults(func=cmd_report)


def _backlog_wire(item: BacklogItem) -> dict[str, Any]:
    """A backlog item as ``backlog list --json`` and ``report delays --json`` print it."""
    record: dict[str, Any] = {
        "id": item.id,
        "ywh": item.business_number,
        "djjg": item.authority_code,
        "state": item.state,
        "dbsj": item.recorded_at.isoformat(),
        "accepted_at": item.accepted_at.isoformat(),
        "reason": item.reason,
        "attempts": item.attempts,
    }
    if item.state == "waiting":
        record["next_attempt_at"] = item.next_attempt_at.isoformat()
        if item.last_error:
            record["last_error"] = item.last_error
    if item.done_at is not None:
        record["done_at"] = item.done_at.isoformat()
    if item.numbers:
        record["numbers"] = list(item.numbers)
    if item.delay is not None:
        record["delay_seconds"] = round(item.delay.total_seconds())
    if item.problems:
        record["errors"] = [{"field": p.field, "message": p.message} for p in item.problems]
    return record


def _duration(delta: timedelta) -> str:
    """``1d 2h03m``, to the minute."""
    minutes = round(delta.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    return (f"{days}d " if days else "") + f"{rest // 60}h{rest % 60:02d}m"


def cmd_backlog(args: argparse.Namespace) -> int:
    if args.action == "drain":
        return _drain(args)
    with open_session(args) as session:
        principal = session.principal(args.operator)
        items = session.registry.backlog(
            principal=principal, authority=args.authority, state=args.state
        )
    if args.json:
        for item in items:
            print_json(_backlog_wire(item))
        return 0
    if not items:
        echo("the backlog is empty")
        return 0
    rows = []
    for item in items:
        if item.state == "waiting":
            when = item.next_attempt_at
            result = item.last_error or item.reason
        else:
            assert item.done_at is not None
            when = item.done_at
            result = "、".join(item.numbers) or "; ".join(map(str, item.problems)) or "done"
        rows.append(
            (
                str(item.id),
                item.authority_code,
                item.business_number,
                item.state,
                item.accepted_at.isoformat(timespec="seconds"),
                when.isoformat(timespec="seconds"),
                result,
            )
        )
    columns = ("id", "djjg", "ywh", "state", "accepted", "next attempt / done", "result / reason")
    print_table("bdcert backlog (rule article 15)", columns, rows)
    return 0


def _drain(args: argparse.Namespace) -> int:
    """``backlog drain``: try at once; with ``--watch``, then again whenever the backoff says,
    re-reading the workspace each time (a fixed key path or seal setting takes effect)."""
    force, said = True, None
    while True:
        with open_session(args) as session:
            registry = session.registry
            principal = session.principal(args.operator)
            report = registry.drain_backlog(
                principal=principal, authority=args.authority, force=force
            )
            waiting = registry.backlog(
                principal=principal, authority=args.authority, state="waiting"
            )
            now = registry.clock()
        summary = {
            "issued": report.issued,
            "rejected": report.rejected,
            "waiting": report.waiting,
            "failures": list(report.failures),
        }
        if summary != said or not args.watch:  # --watch: say only what changed
            said = summary
            if args.json:
                print_json(summary)
            else:
                echo(
                    f"issued {report.issued}, rejected {report.rejected}, "
                    f"still waiting {report.waiting}"
                )
                for failure in report.failures:
                    echo(("still failing", "red"), f" {failure}")
        if not args.watch or not report.waiting:
            return 1 if report.waiting else 0
        force = False
        due = min(i.next_attempt_at for i in waiting) if waiting else now
        time.sleep(min(60.0, max(1.0, (due - now).total_seconds())))


def cmd_report(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        registry = session.registry
        principal = session.principal(args.operator)
        items = registry.backlog(principal=principal, authority=args.authority, state="issued")
    by_authority: dict[str, list[BacklogItem]] = {}
    for item in items:
        by_authority.setdefault(item.authority_code, []).append(item)
    if args.json:
        for item in items:
            print_json(_backlog_wire(item))
        return 0
    if not items:
        echo("no entry was processed late through the backlog")
    for code, group in sorted(by_authority.items()):
        name = registry.authorities[code].name if code in registry.authorities else code
        columns = (
            "ywh",
            "certificates",
            "登簿时间",
            "accepted",
            "done",
            "held",
            "since 登簿",
            "reason",
        )
        rows = []
        for item in group:
            assert item.done_at is not None and item.delay is not None
            rows.append(
                (
                    item.business_number,
                    "\n".join(item.numbers) or "(none: 注销 or 查封)",
                    item.recorded_at.isoformat(timespec="minutes"),
                    item.accepted_at.isoformat(timespec="minutes"),
                    item.done_at.isoformat(timespec="minutes"),
                    _duration(item.done_at - item.accepted_at),
                    _duration(item.delay),
                    item.reason,
                )
            )
        print_table(
            f"{name} ({code}): entries processed late through the backlog (rule article 15)",
            columns,
            rows,
        )
    return 0
