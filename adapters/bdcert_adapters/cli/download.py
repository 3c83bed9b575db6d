"""``bdcert download``: a holder downloads their current e-certificates (rule article 13)."""

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
    c.add_argument("--out", metavar="DIR", type=Path, required=True, help="write the files here")
    c.add_argument("--json", action="store_true", help="one JSON object per certificate")
    c.set_defaults(func=cmd_download)


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
            issued = session.registry.self_download(args.name, args.id_number, args.paper_number)
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
