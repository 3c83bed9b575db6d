"""``bdcert download``: a holder downloads their current e-certificates (rule article 13);
``bdcert unlock``: a registration clerk lifts a self-download lock (a held one included)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import (
    add_command,
    echo,
    error,
    load_workspace,
    open_session,
    print_json,
    status_text,
)


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers, "download", "a holder downloads their current e-certificates (rule article 13)"
    )
    c.add_argument("--name", required=True, help="the holder's name (权利人) as registered")
    c.add_argument("--id-number", required=True, help="the holder's ID number (证件号)")
    c.add_argument(
        "--paper-number",
        help="the paper certificate's number, where a paper original was held (and recorded)",
    )
    c.add_argument(
        "--code", help="the download code the registration authority gave, where it gave one"
    )
    c.add_argument("--out", metavar="DIR", type=Path, required=True, help="write the files here")
    c.add_argument("--json", action="store_true", help="one JSON object per certificate")
    c.set_defaults(func=cmd_download)

    c = add_command(
        subparsers,
        "download-code",
        "the pushing authority makes a holder's second factor for self-download (article 13)",
    )
    c.add_argument("--ywh", required=True, help="the registration's business number (业务号)")
    c.add_argument("--id-number", required=True, help="the 权利人's ID number (证件号)")
    c.add_argument("--operator", help="the clerk (default: the workspace's default_operator)")
    c.add_argument("--json", action="store_true", help='print {"ywh", "code"} as JSON')
    c.set_defaults(func=cmd_download_code)

    c = add_command(
        subparsers,
        "unlock",
        "a clerk lifts the self-download lock of an ID number, a name or a source (article 13)",
    )
    c.add_argument("--id-number", help="the holder's ID number (证件号) whose lock to lift")
    c.add_argument("--name", help="the name (权利人) whose lock to lift")
    c.add_argument("--source", help="the source (a portal's client address) whose lock to lift")
    c.add_argument("--reason", required=True, help="why (e.g. identified at the counter)")
    c.add_argument("--operator", help="the clerk (default: the workspace's default_operator)")
    c.add_argument("--json", action="store_true", help="the guards' states before, as JSON")
    c.set_defaults(func=cmd_unlock)


def cmd_download_code(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        code = session.registry.record_download_code(
            args.ywh, args.id_number, principal=session.principal(args.operator)
        )
    if args.json:
        print_json({"ywh": args.ywh, "code": code})
    else:
        echo(f"download code for {args.ywh}: {code} (hand it to the holder; it is not stored)")
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        states = session.registry.unlock_download(
            principal=session.principal(args.operator),
            reason=args.reason,
            id_number=args.id_number,
            name=args.name,
            source=args.source,
        )
    if args.json:
        print_json({"unlocked": states})
    else:
        for guard, state in states.items():
            echo(f"unlocked {guard} (was {state})")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    import tempfile

    from bdcert.errors import IdentityError
    from bdcert.model import CHINA_TZ

    ws = load_workspace(args)
    try:  # the output directory is made and tried first: no download is logged that cannot land
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=args.out):
            pass
    except OSError as exc:
        error(f"--out {args.out}: {exc}")
        return 2
    with open_session(args, ws) as session:
        try:
            issued = session.registry.self_download(
                args.name, args.id_number, args.paper_number, code=args.code
            )
        except IdentityError as exc:  # the proof failed, or the identity is locked
            error(str(exc), label="refused")
            return 1
    for item in issued:
        files = []
        for suffix, data in (("pdf", item.pdf), ("ofd", item.ofd)):
            if data is not None:
                path = args.out / f"{item.certificate.number}.{suffix}"
                try:
                    path.write_bytes(data)
                except OSError as exc:  # after the checks above: a full disk, say
                    error(f"{path}: {exc}")
                    return 2
                files.append(str(path))
        if args.json:
            print_json(
                {
                    "number": item.certificate.number,
                    "status": item.certificate.status.value,
                    "restricted": item.certificate.restricted_at(datetime.now(CHINA_TZ)),
                    "files": files,
                }
            )
        else:
            status = status_text(item.certificate)
            echo(f"{item.certificate.number} ({status}): {', '.join(files)}")
    return 0
