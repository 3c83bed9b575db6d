"""``bdcert evidence``: keep issued certificates' long-term evidence (PAdES B-LTA) fresh."""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import add_command, echo, error, open_session, print_json


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers,
        "evidence",
        "renew the archive timestamp (PAdES B-LTA) of certificate PDFs whose evidence lapses"
        " within the margin; each file is rewritten with the renewed bytes (they extend it)",
    )
    c.add_argument("files", metavar="FILE", type=Path, nargs="+")
    c.add_argument(
        "--margin-days",
        type=int,
        default=365,
        help="renew when the newest timestamp's TSA certificate or CRLs lapse within this many"
        " days (default 365)",
    )
    c.add_argument("--dry-run", action="store_true", help="list what is due, change nothing")
    c.add_argument("--json", action="store_true")
    c.add_argument("--operator", help="who acts (default: the workspace's default_operator)")
    c.set_defaults(func=cmd_evidence)


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically: a reader sees the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_evidence(args: argparse.Namespace) -> int:
    from bdcert.errors import SealingError

    if args.margin_days < 0:
        error("--margin-days must be 0 or more")
        return 2
    worst = 0
    with open_session(args) as session:
        principal = session.principal(args.operator)
        for file in args.files:
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
            state = "renewed" if outcome.renewed else ("due" if outcome.due else "fresh")
            if args.json:
                print_json(
                    {
                        "file": str(file),
                        "number": outcome.number,
                        "state": state,
                        "expired_at": outcome.expires_at.isoformat(),
                    }
                )
            else:
                echo(
                    f"{state.upper()} {file} {outcome.number}: evidence lapses {outcome.expires_at:%Y-%m-%d}"
                )
    return worst
