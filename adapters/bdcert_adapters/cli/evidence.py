"""``bdcert evidence``: keep issued certificates' long-term evidence (PAdES B-LTA) fresh.

``bdcert evidence FILE…`` renews presented files in place; ``bdcert evidence renew --all``
renews the register's stored PDFs (:meth:`bdcert.lifecycle.Registry.renew_all_evidence`), the
job to schedule (docs/lifecycle.md).
"""

from __future__ import annotations

import argparse
import os
import stat
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import add_command, echo, error, open_session, print_json


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers,
        "evidence",
        "renew the archive timestamp (PAdES B-LTA) of certificate PDFs whose evidence lapses"
        " within the margin: each FILE is rewritten with the renewed bytes (they extend it);"
        " 'bdcert evidence renew --all' renews every stored certificate's PDF in the register",
    )
    c.add_argument(
        "files",
        metavar="FILE",
        nargs="*",
        help="certificate PDFs to renew in place; or the word 'renew' with --all",
    )
    c.add_argument(
        "--all",
        action="store_true",
        help="renew the register's stored PDF of every certificate (any status) that is due",
    )
    c.add_argument(
        "--limit",
        type=int,
        help="with --all: stop after this many certificates acted on (renewed or failed; dry"
        " run: due or failed)",
    )
    c.add_argument(
        "--margin-days",
        type=int,
        default=365,
        help="renew when the newest timestamp's TSA certificate or CRLs lapse within this many"
        " days (default 365)",
    )
    c.add_argument(
        "--dry-run",
        action="store_true",
        help="report what a run would do (due, or failed with the reason: the renewal is made in"
        " memory, asking the TSA), change nothing",
    )
    c.add_argument("--json", action="store_true")
    c.add_argument("--operator", help="who acts (default: the workspace's default_operator)")
    c.set_defaults(func=cmd_evidence)


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically: a reader sees the old file or the new one. The
    new file keeps the old one's permission bits (a temporary file is created 0600)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _usage_problems(args: argparse.Namespace) -> list[str]:
    problems = []
    if args.margin_days < 0:
        problems.append("--margin-days must be 0 or more")
    if args.all:
        if args.files not in ([], ["renew"]):
            problems.append("--all renews the register's stored PDFs: give no FILE with it")
        if args.limit is not None and args.limit < 1:
            problems.append("--limit must be 1 or more")
    else:
        if args.limit is not None:
            problems.append("--limit goes with --all")
        if args.files in ([], ["renew"]):
            problems.append("give FILE… to renew, or 'renew --all' for the whole register")
    return problems


def cmd_evidence(args: argparse.Namespace) -> int:
    if problems := _usage_problems(args):
        for problem in problems:
            error(problem)
        return 2
    if args.all:
        return _renew_all(args)
    files = (
        args.files[1:] if args.files[0] == "renew" and not Path("renew").exists() else args.files
    )
    return _renew_files(args, [Path(f) for f in files])


def _renew_all(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        outcomes = session.registry.renew_all_evidence(
            principal=session.principal(args.operator),
            margin=timedelta(days=args.margin_days),
            dry_run=args.dry_run,
            limit=args.limit,
        )
    for o in outcomes:
        if args.json:
            print_json(
                {
                    "number": o.number,
                    "state": o.state,
                    "reason": o.reason,
                    "tsa_expires_at": _iso(o.tsa_expires_at),
                    "revocation_expires_at": _iso(o.revocation_expires_at),
                    "renewed_until": _iso(o.renewed_until),
                }
            )
        else:
            lapse = (
                "" if o.tsa_expires_at is None else f" (TSA certificate {o.tsa_expires_at:%Y-%m-%d}"
            )
            if lapse:
                rev = o.revocation_expires_at
                lapse += f", revocation data {'none' if rev is None else f'{rev:%Y-%m-%d}'})"
            reason = f": {o.reason}" if o.reason else ""
            echo(f"{o.state.upper()} {o.number}{lapse}{reason}")
    return 2 if any(o.state == "failed" for o in outcomes) else 0


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _renew_files(args: argparse.Namespace, files: list[Path]) -> int:
    from bdcert.errors import SealingError

    worst = 0
    with open_session(args) as session:
        principal = session.principal(args.operator)
        for file in files:
            try:
                data = file.read_bytes()
                outcome = session.registry.renew_evidence(
                    data,
                    principal=principal,
                    margin=timedelta(days=args.margin_days),
                    dry_run=args.dry_run,
                )
                if outcome.renewed:
                    _replace(file, outcome.pdf)
            except (OSError, SealingError) as exc:
                error(f"{file}: {exc}")
                worst = 2
                continue
            if outcome.problem:
                state, worst = "failed", 2
            else:
                state = "renewed" if outcome.renewed else ("due" if outcome.due else "fresh")
            if args.json:
                print_json(
                    {
                        "file": str(file),
                        "number": outcome.number,
                        "state": state,
                        "reason": outcome.problem,
                        "expired_at": outcome.expires_at.isoformat(),
                    }
                )
            else:
                reason = f"; {outcome.problem}" if outcome.problem else ""
                echo(
                    f"{state.upper()} {file} {outcome.number}: evidence lapses"
                    f" {outcome.expires_at:%Y-%m-%d}{reason}"
                )
    return worst
