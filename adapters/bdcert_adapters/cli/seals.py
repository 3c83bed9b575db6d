"""``bdcert seals``: the workspace's e-seals (GB/T 38540), their expiry, renewal."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bdcert_adapters.cli.common import add_command, echo, load_workspace, print_table, warning

if TYPE_CHECKING:
    from bdcert.config import Workspace


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers, "seals", "list the workspace's e-seals (GB/T 38540) with their expiry"
    )
    c.add_argument("--make", metavar="CODE", help="make a new seal for this authority (renewal)")
    c.add_argument("--maker-key", type=Path, help="the seal maker's SM2 key (PEM)")
    c.add_argument("--maker-cert", type=Path, help="the seal maker's certificate (a CA, PEM)")
    c.add_argument("--days", type=int, default=365 * 3, help="validity of a new seal (days)")
    c.set_defaults(func=cmd_seals)


def cmd_seals(args: argparse.Namespace) -> int:
    from bdcert.gm.seals import list_seals
    from bdcert.model import CHINA_TZ

    ws = load_workspace(args)
    if args.make:
        _make_seal(ws, args)
    records = list_seals(ws.path)
    if records:
        print_table(
            "e-seals (GB/T 38540)",
            ("authority", "esID", "name", "valid from", "valid to", "days left", "attention"),
            [
                (
                    r.authority_code,
                    r.es_id,
                    r.name,
                    f"{r.valid_start.astimezone(CHINA_TZ):%Y-%m-%d}",
                    f"{r.valid_end.astimezone(CHINA_TZ):%Y-%m-%d}",
                    str(r.days_left),
                    (r.warning or "", "yellow"),
                )
                for r in records
            ],
        )
    else:
        echo("no seals in this workspace (made by init --algorithm sm2)")
    for r in records:
        if r.warning:
            warning(r.warning)
    if ws.table("seal").get("plugin") == "sm2":
        sealed = {r.authority_code for r in records if r.warning is None}
        for code in sorted(set(ws.authorities()) - sealed):
            warning(
                f"authority {code} has no valid seal: it cannot issue "
                f"(make one with bdcert seals --make {code}; rule article 9)"
            )
    return 0


def _make_seal(ws: Workspace, args: argparse.Namespace) -> None:
    """A new seal for one authority, made by the given maker for its configured signer."""
    from bdcert.errors import BdcertError
    from bdcert.fonts import font_config_from_settings
    from bdcert.gm.seals import create_authority_seal
    from bdcert.gm.ses import parse_seal
    from bdcert.gm.sm2 import SM2PrivateKey
    from bdcert.model import CHINA_TZ
    from bdcert.pki import certificate_ders
    from bdcert.render import Renderer

    authorities = ws.authorities()
    signer = ws.table("seal").get("authorities", {}).get(args.make)
    if args.make not in authorities or not signer:
        raise BdcertError(f"authority {args.make} has no SM2 signing key in [seal] authorities")
    if not (args.maker_key and args.maker_cert):
        raise BdcertError("--make needs --maker-key and --maker-cert (the seal maker, a CA)")

    def der(path: Path) -> bytes:
        return certificate_ders(path.read_bytes())[0]

    path = create_authority_seal(
        ws.path,
        authorities[args.make],
        maker_key=SM2PrivateKey.from_pem(args.maker_key.read_bytes()),
        maker_cert_der=der(args.maker_cert),
        signer_cert_der=der(ws.resolve(str(signer["cert"]))),
        picture_png=Renderer(font_config_from_settings(ws.table("fonts"), ws.path)).seal_picture(
            authorities[args.make]
        ),
        valid_days=args.days,
    )
    echo(f"new seal: {path}")
    seal = parse_seal(path.read_bytes())
    # cut at the signing certificate's notAfter; a cut of hours (the demo's three-year seal and
    # certificate) is not worth a warning
    if seal.valid_end <= seal.valid_start + timedelta(days=args.days - 1):
        warning(
            f"the seal is valid only until {seal.valid_end.astimezone(CHINA_TZ):%Y-%m-%d}, not"
            f" {args.days} days: its signing certificate expires then (a seal cannot outlive"
            " it); renew the certificate and make a new seal before"
        )
