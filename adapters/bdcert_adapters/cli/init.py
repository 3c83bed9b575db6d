"""``bdcert init``: a workspace with a throwaway demo PKI."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bdcert_adapters.cli.common import add_command, echo, error, warning

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def register(subparsers: Any) -> None:
    c = add_command(subparsers, "init", "create a workspace")
    c.add_argument(
        "--demo",
        action="store_true",
        required=True,
        help="with a throwaway demo PKI (a root CA and a seal certificate per authority)",
    )
    c.add_argument(
        "--authorities",
        metavar="FILE.json",
        type=Path,
        help="authorities, shaped like authorities.json (default: the bundled example's)",
    )
    c.add_argument(
        "--force",
        action="store_true",
        help="delete an existing workspace first: its keys, seals and SQLite register are lost "
        "(a PostgreSQL register named by [storage] url or BDCERT_DATABASE_URL is kept)",
    )
    c.add_argument(
        "--algorithm",
        choices=("ecdsa", "sm2"),
        default="ecdsa",
        help="ecdsa: PAdES seals (P-256); sm2: national-cryptography seals (GB/T 38540, SM2/SM3)",
    )
    c.add_argument(
        "--pki-url",
        metavar="URL",
        help="name this URL's CRL (URL/crl) and OCSP responder (URL/ocsp) in the demo"
        " certificates, e.g. http://127.0.0.1:8731/pki, served by bdcert-pki-service --pki"
        " WORKSPACE/pki (default: none; seals embed the demo CRL from the file)",
    )
    c.set_defaults(func=cmd_init)


def examples() -> Traversable:
    """The bundled example data (``bdcert_adapters/examples``: authorities, entries)."""
    from importlib import resources

    return resources.files("bdcert_adapters") / "examples"


def cmd_init(args: argparse.Namespace) -> int:
    from bdcert.config import CONFIG_NAME, Workspace, load_authorities
    from bdcert.demo_pki import make_demo_pki
    from bdcert.lifecycle import Registry

    ws = Workspace.locate(args.workspace).resolve()
    if (ws / CONFIG_NAME).exists():
        if not args.force:
            error(f"{ws} already holds a workspace (use --force to replace it)")
            return 2
        held = _certificates_held(ws)
        shutil.rmtree(ws)
        what = "a workspace" if held is None else f"a workspace holding {held} certificate(s)"
        warning(f"replaced {what} at {ws}")
    ws.mkdir(parents=True, exist_ok=True)
    source = args.authorities
    text = (
        source.read_text(encoding="utf-8")
        if source
        else (examples() / "authorities.json").read_text(encoding="utf-8")
    )
    (ws / "authorities.json").write_text(text, encoding="utf-8")
    authorities = load_authorities(ws / "authorities.json")
    pki = make_demo_pki(
        ws / "pki",
        list(authorities.values()),
        algorithm=args.algorithm,
        service_url=args.pki_url if args.algorithm == "ecdsa" else None,
    )
    lines = [
        "# bdcert workspace (demo PKI: NOT for production seals)",
        "[bdcert]",
        'authorities = "authorities.json"',
        'code_tables = "national-2024"',
        'verification_base_url = "https://verify.bdcert.invalid/v/"',
        f'trust_roots = ["{pki.root_cert.relative_to(ws).as_posix()}"]',
        'default_operator = "platform"',
        "",
        "[storage]",
        'plugin = "sql"',
        'url = "sqlite:///bdcert.sqlite3"',
        "",
        "[seal]",
        f'plugin = "{"sm2" if args.algorithm == "sm2" else "software"}"',
    ]
    if pki.tsa_cert is not None and pki.tsa_key is not None and pki.crl is not None:
        # PAdES at the default level B-LTA: the demo TSA in-process, the demo root's CRL
        def rel(path: Path) -> str:
            return path.relative_to(ws).as_posix()

        lines[lines.index("[seal]") : lines.index("[seal]")] = [
            "[timestamp]",
            f'key = "{rel(pki.tsa_key)}"',
            f'cert = "{rel(pki.tsa_cert)}"',
            f'chain = ["{rel(pki.root_cert)}"]',
            "",
            "[revocation]",
            f'crls = ["{rel(pki.crl)}"]',
            "fetch = false",
            "",
        ]
    for code, files in pki.seal.items():
        lines += [
            "",
            f'[seal.authorities."{code}"]',
            f'key = "{files.key.relative_to(ws).as_posix()}"',
            f'cert = "{files.cert.relative_to(ws).as_posix()}"',
            f'chain = ["{pki.root_cert.relative_to(ws).as_posix()}"]',
        ]
    if args.algorithm == "sm2":  # every seal time-stamped by the demo's SM2 time-stamp authority
        from bdcert.demo_pki import SM2_TSA_CERT, SM2_TSA_KEY

        lines += [
            "",
            "[seal.timestamp]",
            f'key = "{(pki.directory / SM2_TSA_KEY).relative_to(ws).as_posix()}"',
            f'cert = "{(pki.directory / SM2_TSA_CERT).relative_to(ws).as_posix()}"',
            f'chain = ["{pki.root_cert.relative_to(ws).as_posix()}"]',
        ]
    lines += [
        "",
        "[identity]",
        'plugin = "local"',
        "",
        "[identity.operators.platform]",
        'roles = ["platform"]',
        "",
        "[identity.operators.auditor]",
        'roles = ["auditor"]',
        "",
        "# a holder (王晓明 of the example timeline) and a bank under sharing agreements",
        '[identity.operators."holder-wang"]',
        'roles = ["holder"]',
        'id_number = "510104198503120176"',
        "",
        '[identity.operators."bank-shuchuan"]',
        'roles = ["sharing_party"]',
    ]
    for code in authorities:
        lines += [
            "",
            f'[identity.operators."registrar-{code}"]',
            'roles = ["registrar"]',
            f'authority = "{code}"',
        ]
    lines += ["", "[notifiers]", 'plugins = ["log"]', ""]
    (ws / CONFIG_NAME).write_text("\n".join(lines), encoding="utf-8")
    if args.algorithm == "sm2":
        _make_demo_seals(ws, pki, authorities)
    with Registry.open(ws):  # creates the store and checks the configuration
        pass
    echo(f"workspace ready: {ws}")
    echo(f"  authorities: {', '.join(f'{a.code} {a.name}' for a in authorities.values())}")
    echo(f"  demo root CA: {pki.root_cert}")
    return 0


def _certificates_held(ws: Path) -> int | None:
    """How many certificates the workspace at ``ws`` holds; None when it cannot be opened."""
    from bdcert.lifecycle import Registry

    try:
        with Registry.open(ws) as registry, registry.storage.transaction() as tx:
            count, after = 0, None
            while page := tx.certificate_numbers(after=after, limit=1000):
                count += len(page)
                after = page[-1]
            return count
    except Exception:  # a broken workspace is replaced all the same
        return None


def _make_demo_seals(ws: Path, pki: Any, authorities: dict[str, Any]) -> None:
    """One GB/T 38540 seal per authority, made by the demo root (the seal maker) for the
    authority's SM2 signing certificate, with the authority's seal picture."""
    from bdcert.fonts import default_font_config
    from bdcert.gm.seals import create_authority_seal
    from bdcert.gm.sm2 import SM2PrivateKey
    from bdcert.pki import certificate_ders
    from bdcert.render import Renderer

    def der(path: Path) -> bytes:
        return certificate_ders(path.read_bytes())[0]

    maker_key = SM2PrivateKey.from_pem(pki.root_key.read_bytes())
    renderer = Renderer(default_font_config())
    for code, authority in authorities.items():
        create_authority_seal(
            ws,
            authority,
            maker_key=maker_key,
            maker_cert_der=der(pki.root_cert),
            signer_cert_der=der(pki.seal[code].cert),
            picture_png=renderer.seal_picture(authority),
        )
