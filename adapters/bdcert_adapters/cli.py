"""The ``bdcert`` command line.

Every command takes ``--workspace DIR`` (default ``$BDCERT_WORKSPACE``, else ``./bdcert-workspace``).

Exit codes:

- ``issue``: 0 when every line was processed (issued, none, replayed, backlogged or rejected: a
  rejection is a result, listed with its reasons; a backlogged entry waits for sealing to work
  again, see ``backlog``); 1 when a line failed for a reason outside the entry (storage,
  permission), so it can be pushed again later.
- ``backlog drain``: 0 when nothing waits any more; 1 when entries still wait (sealing still
  fails).
- ``verify``: 0 when every file is a genuine certificate in force (valid or restricted); 1 when one
  is genuine but superseded or cancelled; 2 when one is not a genuine, unchanged, registered
  certificate.
- ``share``: 0 when the certificate was shared; 1 when refused (no active agreement covering it,
  not a sharing party) or unknown.
- ``download``: 0 when the holder's certificates were written; 1 when the proof failed or the
  identity is locked after too many failures.
- any command: 2 for bad usage or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bdcert.config import CONFIG_NAME, Workspace, load_authorities
from bdcert.errors import BdcertError, ValidationError
from bdcert.lifecycle import Registry
from bdcert.model import (
    CHINA_TZ,
    Certificate,
    IssueResult,
    Outcome,
    Principal,
    Verdict,
    VerdictCode,
)
from bdcert.protocols import BacklogItem

EXAMPLES = resources.files("bdcert_adapters") / "examples"

out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:  # piped or logged: rich would assume 80 columns and fold the table
    out = Console(highlight=False, soft_wrap=True, width=160)
err = Console(stderr=True, highlight=False)


def _print_json(record: dict[str, Any]) -> None:
    """One JSON object per line on stdout, untouched by rich's markup."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    # pyHanko logs every failed path validation with a traceback; the verdict already says it.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BdcertError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        return 2
    except BrokenPipeError:  # e.g. `bdcert issue … --json | head`: the reader has gone
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a file named on the command line is missing, unreadable, …
        where = f": {exc.filename}" if exc.filename else ""
        err.print(f"[bold red]error:[/] {exc.strerror or exc}{where}", highlight=False)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bdcert",
        epilog="exit codes:" + __doc__.split("Exit codes:", 1)[1].replace("``", "")
        if __doc__
        else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Issue, seal and verify real-estate registration e-certificates (不动产登记电子证照)."
        ),
    )
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_, description=help_)
        c.add_argument(
            "--workspace",
            metavar="DIR",
            help="workspace directory (default: $BDCERT_WORKSPACE or ./bdcert-workspace)",
        )
        return c

    c = command("init", "create a workspace")
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
    c.set_defaults(func=cmd_init)

    c = command("issue", "process registration-book entries (one JSON object per line)")
    c.add_argument("file", metavar="FILE.jsonl", type=Path)
    c.add_argument("--out", metavar="DIR", type=Path, help="write each sealed document here")
    c.add_argument("--json", action="store_true", help="one JSON result per input line on stdout")
    c.add_argument(
        "--format",
        choices=("pdf", "ofd", "both"),
        help="files to write (default: the workspace's formats); the PDF is always filed",
    )
    c.add_argument("--operator", help="who pushes (default: the workspace's default_operator)")
    c.set_defaults(func=cmd_issue)

    c = command("verify", "verify certificate files (PDF or OFD)")
    c.add_argument("files", metavar="FILE", type=Path, nargs="+")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_verify)

    for name, help_, func in (
        ("show", "show a certificate's face and status", cmd_show),
        ("status", "print a certificate's status", cmd_status),
    ):
        c = command(name, help_)
        c.add_argument("number", metavar="NUMBER")
        c.add_argument("--json", action="store_true")
        c.add_argument("--operator", help="who asks (default: the workspace's default_operator)")
        c.set_defaults(func=func)

    c = command("notify", "deliver again the certificate events a notifier could not deliver")
    c.add_argument("--redeliver", action="store_true", required=True)
    c.add_argument("--limit", type=int, default=100, help="at most this many events")
    c.add_argument("--operator", help="who acts (default: the workspace's default_operator)")
    c.set_defaults(func=cmd_notify)

    c = command("lookup", "check a certificate in the register by QR token or by number")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--token", help="the token at the end of the QR code's URL")
    which.add_argument("--number", help="the certificate number")
    c.add_argument("--json", action="store_true")
    c.add_argument("--operator", help="who asks (default: anonymous, personal data masked)")
    c.set_defaults(func=cmd_lookup)

    c = command("reconcile", "compare the registry book with what was issued (rule article 9)")
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

    c = command("backlog", "entries waiting for sealing to be possible (rule article 15)")
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

    c = command("report", "reports for the rule's explanations")
    c.add_argument("report", choices=("delays",), help="delays: certificates issued late")
    c.add_argument("--authority", metavar="CODE", help="only this authority")
    c.add_argument("--json", action="store_true")
    c.add_argument("--operator", help="who asks (default: the workspace's default_operator)")
    c.set_defaults(func=cmd_report)

    c = command("audit", "check or show the tamper-evident audit log (rule article 17)")
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
        "--out", metavar="FILE.pdf", type=Path, help="checkpoint: also write the sealed PDF here"
    )
    c.add_argument("--certificate", metavar="NUMBER", help="show: events about this subject")
    c.add_argument("--principal", metavar="NAME", help="show: events by this actor")
    c.add_argument("--since", type=_aware, help="show: from this time (ISO 8601 with offset)")
    c.add_argument("--until", type=_aware, help="show: up to this time (ISO 8601 with offset)")
    c.add_argument("--json", action="store_true")
    c.add_argument("--operator", help="who asks (an auditor; default: default_operator)")
    c.set_defaults(func=cmd_audit)

    c = command("agreements", "add, list or revoke sharing agreements (rule article 16)")
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

    c = command("share", "a sharing party's query: the fields its agreement grants (article 16)")
    c.add_argument("number", metavar="NUMBER")
    c.add_argument("--operator", required=True, help="the sharing party")
    c.add_argument("--agreement", metavar="ID", help="the agreement to use (default: the newest)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_share)

    c = command("download", "a holder downloads their current e-certificates (rule article 13)")
    c.add_argument("--name", required=True, help="the holder's name (权利人) as registered")
    c.add_argument("--id-number", required=True, help="the holder's ID number (证件号)")
    c.add_argument(
        "--paper-number",
        help="the paper certificate's number, where a paper original was held (and recorded)",
    )
    c.add_argument("--out", metavar="DIR", type=Path, required=True, help="write the files here")
    c.add_argument("--json", action="store_true", help="one JSON object per certificate")
    c.set_defaults(func=cmd_download)

    c = command("seals", "list the workspace's e-seals (GB/T 38540) with their expiry")
    c.add_argument("--make", metavar="CODE", help="make a new seal for this authority (renewal)")
    c.add_argument("--maker-key", type=Path, help="the seal maker's SM2 key (PEM)")
    c.add_argument("--maker-cert", type=Path, help="the seal maker's certificate (a CA, PEM)")
    c.add_argument("--days", type=int, default=365 * 3, help="validity of a new seal (days)")
    c.set_defaults(func=cmd_seals)

    c = command("plugins", "list installed plugins and the active choice for each hook")
    c.set_defaults(func=cmd_plugins)
    return p


# -- init ------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from bdcert.demo_pki import make_demo_pki

    ws = Workspace.locate(args.workspace).resolve()
    if (ws / CONFIG_NAME).exists():
        if not args.force:
            err.print(f"[red]error:[/] {ws} already holds a workspace (use --force to replace it)")
            return 2
        shutil.rmtree(ws)
    ws.mkdir(parents=True, exist_ok=True)
    source = args.authorities
    text = (
        source.read_text(encoding="utf-8")
        if source
        else (EXAMPLES / "authorities.json").read_text(encoding="utf-8")
    )
    (ws / "authorities.json").write_text(text, encoding="utf-8")
    authorities = load_authorities(ws / "authorities.json")
    pki = make_demo_pki(ws / "pki", list(authorities.values()), algorithm=args.algorithm)
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
    for code, files in pki.seal.items():
        lines += [
            "",
            f'[seal.authorities."{code}"]',
            f'key = "{files.key.relative_to(ws).as_posix()}"',
            f'cert = "{files.cert.relative_to(ws).as_posix()}"',
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
    out.print(f"workspace ready: {ws}")
    out.print(f"  authorities: {', '.join(f'{a.code} {a.name}' for a in authorities.values())}")
    out.print(f"  demo root CA: {pki.root_cert}")
    return 0


def _make_demo_seals(ws: Path, pki: Any, authorities: dict[str, Any]) -> None:
    """One GB/T 38540 seal per authority, made by the demo root (the seal maker) for the
    authority's SM2 signing certificate, with the authority's seal picture."""
    from asn1crypto import pem

    from bdcert.fonts import default_font_config
    from bdcert.gm.seals import create_authority_seal
    from bdcert.gm.sm2 import SM2PrivateKey
    from bdcert.render import Renderer

    def der(path: Path) -> bytes:
        return bytes(pem.unarmor(path.read_bytes())[2])

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


def _principal(registry: Registry, ws: Workspace, operator: str | None) -> Principal:
    name = operator or ws.default_operator
    if not name:
        raise BdcertError("name an operator with --operator (no default_operator in the workspace)")
    return registry.authenticate({"operator": name})


# -- issue -----------------------------------------------------------------------------------
def _lines(file: Path) -> Iterator[tuple[int, str]]:
    with file.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield number, line


def cmd_issue(args: argparse.Namespace) -> int:
    ws = Workspace.load(args.workspace)
    lines = list(_lines(args.file))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    failed = False
    formats = {"pdf": ("pdf",), "ofd": ("pdf", "ofd"), "both": ("pdf", "ofd"), None: None}[
        args.format
    ]
    written = {"pdf": ("pdf",), "ofd": ("ofd",), "both": ("pdf", "ofd")}.get(args.format or "")
    with Registry.open(ws, formats=formats) as registry:
        principal = _principal(registry, ws, args.operator)
        written = written or registry.formats
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task("issuing", total=len(lines))
            for line_no, text in lines:
                record = _issue_line(registry, principal, text, args.out, written)
                failed |= record["outcome"] == "failed"
                record = {"line": line_no, **record}
                rows.append((line_no, record))
                if args.json:
                    _print_json(record)
                progress.advance(task)
    if not args.json:
        _summary(rows)
    return 1 if failed else 0


def _issue_line(
    registry: Registry,
    principal: Principal,
    text: str,
    out_dir: Path | None,
    written: Sequence[str] = ("pdf",),
) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return {
            "ywh": None,
            "outcome": Outcome.REJECTED.value,
            "errors": [{"field": "", "message": f"not JSON: {exc}"}],
        }
    ywh = raw.get("ywh") if isinstance(raw, dict) and isinstance(raw.get("ywh"), str) else None
    try:
        result = registry.push(raw, principal=principal)
    except ValidationError as exc:
        return {
            **IssueResult(ywh or "", Outcome.REJECTED, problems=exc.problems).to_wire(),
            "ywh": ywh,
        }
    except Exception as exc:  # sealing, storage, permission, a bug: one line must not stop a batch
        if not isinstance(exc, BdcertError):
            logging.getLogger("bdcert").exception("unexpected error on entry %s", ywh)
        return {
            "ywh": ywh,
            "outcome": "failed",
            "errors": [{"field": "", "message": f"{type(exc).__name__}: {exc}"}],
        }
    record = result.to_wire()
    if out_dir is not None and result.certificates:
        files = []
        for issued in result.certificates:
            documents = {"pdf": issued.pdf, "ofd": issued.ofd}
            for fmt in written:
                data = documents[fmt]
                if data is not None:
                    path = out_dir / f"{issued.certificate.number}.{fmt}"
                    path.write_bytes(data)
                    files.append(str(path))
        record["files"] = files
    return record


def _summary(rows: list[tuple[int, dict[str, Any]]]) -> None:
    table = Table(title="bdcert issue", show_lines=False)
    for col in ("line", "ywh", "outcome", "certificates / effect", "reasons"):
        table.add_column(col, overflow="fold")
    counts: dict[str, int] = {}
    for line_no, r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        effect = list(r.get("numbers", []))
        effect += [f"supersedes {n}" for n in r.get("supersedes", [])]
        effect += [f"cancels {n}" for n in r.get("cancels", [])]
        effect += [f"restricts {n}" for n in r.get("restricts", [])]
        effect += [f"announces void {n}" for n in r.get("announcements", [])]
        reasons = "\n".join(
            f"{e['field'] or '(entry)'}: {e['message']}" for e in r.get("errors", [])
        )
        if r.get("reason"):
            reasons = f"waits in the backlog: {r['reason']}"
        style = {
            "rejected": "red",
            "failed": "bold red",
            "none": "yellow",
            "backlogged": "magenta",
        }.get(r["outcome"], "green")
        table.add_row(
            str(line_no),
            str(r.get("ywh") or ""),
            f"[{style}]{r['outcome']}[/]",
            "\n".join(effect),
            reasons,
        )
    out.print(table)
    out.print("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


# -- verify, show, status --------------------------------------------------------------------
def _verify_exit_code(v: Verdict) -> int:
    """0 genuine and in force; 1 genuine but superseded or cancelled; 2 anything else."""
    if v.ok:
        return 0
    if v.code in (VerdictCode.SUPERSEDED, VerdictCode.CANCELLED):
        return 1
    return 2


def _verdict_wire(file: Path, v: Verdict) -> dict[str, Any]:
    record: dict[str, Any] = {
        "file": str(file),
        "verdict": v.code.value,
        "trusted": v.trusted,
        "detail": v.detail,
        "signer": v.signer,
        "signed_at": v.signed_at.isoformat() if v.signed_at else None,
    }
    if v.certificate is not None:
        record["certificate"] = _certificate_wire(v.certificate)
    return record


def _certificate_wire(c: Certificate) -> dict[str, Any]:
    return {
        "number": c.number,
        "kind": c.kind.value,
        "licence_id": c.licence_id,
        "ywh": c.business_number,
        "status": c.status.value,
        "restricted": c.restricted_at(datetime.now(CHINA_TZ)),
        "superseded_by": list(c.superseded_by),
        "cancel_reason": c.cancel_reason,
        "restrictions": [
            {
                "cfjg": r.authority,
                "cfwh": r.document_number,
                "cflx": r.type,
                "ywh": r.business_number,
            }
            for r in c.restrictions
        ],
        "issued_at": c.issued_at.isoformat(),
        "verification_url": c.verification_url,
        "face": {item.key: item.value for item in c.face},
    }


def cmd_verify(args: argparse.Namespace) -> int:
    ws = Workspace.load(args.workspace)
    worst = 0
    with Registry.open(ws) as registry:
        for file in args.files:
            try:
                data = file.read_bytes()
            except OSError as exc:
                err.print(f"[red]error:[/] {file}: {exc}")
                worst = 2
                continue
            v = registry.verify(data)
            worst = max(worst, _verify_exit_code(v))
            if args.json:
                _print_json(_verdict_wire(file, v))
            else:
                style = "green" if v.ok else ("yellow" if v.trusted else "red")
                number = f" {v.certificate.number}" if v.certificate else ""
                out.print(f"[{style}]{v.code.value.upper()}[/] {file}{number}: {v.detail}")
    return worst


def _lookup(args: argparse.Namespace) -> Certificate:
    ws = Workspace.load(args.workspace)
    with Registry.open(ws) as registry:
        return registry.certificate(args.number, principal=_principal(registry, ws, args.operator))


def _status_text(c: Certificate) -> str:
    text = c.status.value
    if c.superseded_by:
        text += f" by {'、'.join(c.superseded_by)}"
    if c.cancel_reason:
        text += f": {c.cancel_reason}"
    for r in c.restrictions:
        text += f"; restricted (查封 by {r.authority}, {r.document_number})"
    return text


def cmd_show(args: argparse.Namespace) -> int:
    c = _lookup(args)
    if args.json:
        _print_json(_certificate_wire(c))
        return 0
    table = Table(title=f"{c.kind.title} {c.number}", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value", overflow="fold")
    for item in c.face:
        table.add_row(item.label, item.value)
    table.add_row("电子证照标识", c.licence_id)
    table.add_row("状态 status", _status_text(c))
    table.add_row("核验 verify", c.verification_url)
    out.print(table)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    c = _lookup(args)
    if args.json:
        wire = _certificate_wire(c)
        keys = ("number", "status", "superseded_by", "cancel_reason", "restrictions")
        _print_json({k: wire[k] for k in keys})
    else:
        out.print(f"{c.number}: {_status_text(c)}")
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    ws = Workspace.load(args.workspace)
    with Registry.open(ws) as registry:
        principal = _principal(registry, ws, args.operator)
        delivered, failed = registry.redeliver(principal=principal, limit=args.limit)
    out.print(f"delivered: {delivered}  still undelivered: {failed}")
    return 1 if failed else 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from datetime import timedelta

    ws = Workspace.load(args.workspace)
    book = []
    for line_no, text in _lines(args.file):
        try:
            book.append(json.loads(text))
        except (ValueError, RecursionError):
            book.append({"ywh": f"(line {line_no}: not JSON)"})
    with Registry.open(ws) as registry:
        principal = _principal(registry, ws, args.operator)
        findings = registry.reconcile(
            book, principal=principal, late_after=timedelta(hours=args.late_after)
        )
    per_authority: dict[str, dict[str, int]] = {}
    for f in findings:
        counts = per_authority.setdefault(f.authority_code or "?", {})
        counts[f.finding] = counts.get(f.finding, 0) + 1
        if args.json:
            _print_json(
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
        table = Table(title="reconcile: registry book against issued certificates")
        kinds = ("issued", "late", "processed", "missing", "different")
        table.add_column("authority")
        for k in kinds:
            table.add_column(k, justify="right")
        for code, counts in sorted(per_authority.items()):
            table.add_row(code, *(str(counts.get(k, 0)) for k in kinds))
        out.print(table)
        for f in findings:
            if f.finding in ("missing", "different"):
                out.print(
                    f"[red]{f.finding}[/] {f.business_number} ({f.authority_code}): {f.detail}"
                )
    return 1 if any(f.finding in ("missing", "different") for f in findings) else 0


def cmd_lookup(args: argparse.Namespace) -> int:
    ws = Workspace.load(args.workspace)
    with Registry.open(ws) as registry:
        principal = registry.authenticate({"operator": args.operator}) if args.operator else None
        v = registry.lookup(token=args.token, number=args.number, principal=principal)
    if args.json:
        record: dict[str, Any] = {"verdict": v.code.value, "detail": v.detail}
        if v.certificate is not None:
            record["certificate"] = _certificate_wire(v.certificate)
        _print_json(record)
    else:
        number = f" {v.certificate.number}" if v.certificate else ""
        out.print(f"{v.code.value.upper()}{number}: {v.detail}")
        if v.certificate is not None:
            out.print(f"  权利人: {v.certificate.face_value('qlr')}")
    return _verify_exit_code(v)


# -- backlog (rule article 15) ----------------------------------------------------------------
def _backlog_wire(item: BacklogItem) -> dict[str, Any]:
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
    minutes = round(delta.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    return (f"{days}d " if days else "") + f"{rest // 60}h{rest % 60:02d}m"


def cmd_backlog(args: argparse.Namespace) -> int:
    if args.action == "drain":
        return _drain(args)
    ws = Workspace.load(args.workspace)
    with Registry.open(ws) as registry:
        principal = _principal(registry, ws, args.operator)
        items = registry.backlog(principal=principal, authority=args.authority, state=args.state)
    if args.json:
        for item in items:
            _print_json(_backlog_wire(item))
        return 0
    if not items:
        out.print("the backlog is empty")
        return 0
    table = Table(title="bdcert backlog (rule article 15)")
    for col in ("id", "djjg", "ywh", "state", "accepted", "next attempt / done", "result / reason"):
        table.add_column(col, overflow="fold")
    for item in items:
        if item.state == "waiting":
            when = item.next_attempt_at
            result = item.last_error or item.reason
        else:
            assert item.done_at is not None
            when = item.done_at
            result = "、".join(item.numbers) or "; ".join(map(str, item.problems)) or "done"
        table.add_row(
            str(item.id),
            item.authority_code,
            item.business_number,
            item.state,
            item.accepted_at.isoformat(timespec="seconds"),
            when.isoformat(timespec="seconds"),
            result,
        )
    out.print(table)
    return 0


def _drain(args: argparse.Namespace) -> int:
    """``backlog drain``: try at once; with ``--watch``, then again whenever the backoff says,
    re-reading the workspace each time (a fixed key path or seal setting takes effect)."""
    force, said = True, None
    while True:
        ws = Workspace.load(args.workspace)
        with Registry.open(ws) as registry:
            principal = _principal(registry, ws, args.operator)
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
                _print_json(summary)
            else:
                out.print(
                    f"issued {report.issued}, rejected {report.rejected}, "
                    f"still waiting {report.waiting}",
                    markup=False,
                )
                for failure in report.failures:
                    out.print(f"[red]still failing[/] {failure}")
        if not args.watch or not report.waiting:
            return 1 if report.waiting else 0
        force = False
        due = min(i.next_attempt_at for i in waiting) if waiting else now
        time.sleep(min(60.0, max(1.0, (due - now).total_seconds())))


def cmd_report(args: argparse.Namespace) -> int:
    ws = Workspace.load(args.workspace)
    with Registry.open(ws) as registry:
        principal = _principal(registry, ws, args.operator)
        items = registry.backlog(principal=principal, authority=args.authority, state="issued")
    by_authority: dict[str, list[BacklogItem]] = {}
    for item in items:
        by_authority.setdefault(item.authority_code, []).append(item)
    if args.json:
        for item in items:
            _print_json(_backlog_wire(item))
        return 0
    if not items:
        out.print("no entry was processed late through the backlog")
    for code, group in sorted(by_authority.items()):
        name = registry.authorities[code].name if code in registry.authorities else code
        table = Table(
            title=f"{name} ({code}): entries processed late through the backlog (rule article 15)"
        )
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
        for col in columns:
            table.add_column(col, overflow="fold")
        for item in group:
            assert item.done_at is not None and item.delay is not None
            table.add_row(
                item.business_number,
                "\n".join(item.numbers) or "(none: 注销 or 查封)",
                item.recorded_at.isoformat(timespec="minutes"),
                item.accepted_at.isoformat(timespec="minutes"),
                item.done_at.isoformat(timespec="minutes"),
                _duration(item.done_at - item.accepted_at),
                _duration(item.delay),
                item.reason,
            )
        out.print(table)
    return 0


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset, e.g. 2024-04-01T00:00+08:00")
    return value


def cmd_audit(args: argparse.Namespace) -> int:
    ws = Workspace.load(args.workspace)
    copies: list[tuple[str, bytes]] = []
    if args.action == "verify":  # every checkpoint copy is read first: an unreadable one is an
        unreadable = False  # error line each, and the log is not verified against the rest
        for file in args.checkpoint_files:
            try:
                copies.append((str(file), file.read_bytes()))
            except OSError as exc:
                err.print(f"[red]error:[/] {escape(str(file))}: {escape(str(exc))}", soft_wrap=True)
                unreadable = True
        if unreadable:
            return 2
    with Registry.open(ws) as registry:
        principal = _principal(registry, ws, args.operator)
        if args.action == "verify":
            broken = registry.verify_audit(principal=principal, checkpoints=copies)
            for message in broken:
                out.print(f"[red]BROKEN[/] {escape(message)}")
            if not broken:
                out.print("audit log intact: every record is chained to the one before")
                kept = registry.audit_checkpoints(principal=principal)
                if kept:
                    last = kept[-1]
                    out.print(
                        f"{len(kept)} sealed checkpoint(s) hold; the latest, #{last.number}, "
                        f"seals event {last.event_id} ({last.made_at.isoformat()})",
                        markup=False,
                    )
                else:
                    out.print("no sealed checkpoint yet (bdcert audit checkpoint makes one)")
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
                _print_json(record)
            else:
                out.print(
                    f"audit checkpoint #{made.number} sealed by {made.authority_code}: event "
                    f"{made.event_id}, hash {made.event_hash}"
                    + (f"; PDF written to {args.out}" if args.out else ""),
                    markup=False,
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
            _print_json(record)
        else:
            out.print(f"{record['at']}  {e.action:<9} {e.actor:<18} {e.subject}", markup=False)
    return 0


# -- sharing agreements, sharing, self-download (rule articles 13, 16) -----------------------
def cmd_agreements_add(args: argparse.Namespace) -> int:
    ws = Workspace.load(args.workspace)
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
    with Registry.open(ws) as registry:
        principal = _principal(registry, ws, args.operator)
        agreement = registry.add_agreement(raw, principal=principal)
    if args.json:
        _print_json(agreement.to_wire())
    else:
        out.print(f"agreement {agreement.id} added for {agreement.party}")
    return 0


def cmd_agreements_list(args: argparse.Namespace) -> int:
    ws = Workspace.load(args.workspace)
    with Registry.open(ws) as registry:
        principal = _principal(registry, ws, args.operator)
        found = registry.agreements(principal=principal, party=args.party)
        now = registry.clock()
    if args.json:
        for a in found:
            _print_json({**a.to_wire(), "state": a.state(now)})
        return 0
    table = Table(title="sharing agreements (rule article 16)")
    for col in ("id", "party", "purpose", "authorities", "fields", "valid", "signed", "state"):
        table.add_column(col, overflow="fold")
    for a in found:
        state = a.state(now)
        if a.revoked_at is not None:
            state += f" ({a.revoke_reason})"
        table.add_row(
            a.id,
            a.party,
            a.purpose,
            ", ".join(a.authorities),
            ", ".join(a.fields),
            f"{a.valid_from:%Y-%m-%d %H:%M} – {a.valid_to:%Y-%m-%d %H:%M}",
            a.signed_on.isoformat(),
            state,
            style=None if a.state(now) == "active" else "dim",
        )
    out.print(table if found else "no sharing agreements")
    return 0


def cmd_agreements_revoke(args: argparse.Namespace) -> int:
    ws = Workspace.load(args.workspace)
    with Registry.open(ws) as registry:
        principal = _principal(registry, ws, args.operator)
        agreement = registry.revoke_agreement(
            args.agreement_id, reason=args.reason, principal=principal
        )
    if args.json:
        _print_json(agreement.to_wire())
    else:
        out.print(f"agreement {agreement.id} revoked: {agreement.revoke_reason}")
    return 0


def cmd_share(args: argparse.Namespace) -> int:
    from bdcert.errors import IdentityError, NotFound

    ws = Workspace.load(args.workspace)
    with Registry.open(ws) as registry:
        principal = registry.authenticate({"operator": args.operator})
        try:
            shared = registry.share(args.number, principal=principal, agreement_id=args.agreement)
        except (IdentityError, NotFound) as exc:  # PermissionDenied is an IdentityError
            err.print(f"[bold red]refused:[/] {exc}")
            return 1
    if args.json:
        _print_json(shared.to_wire())
        return 0
    table = Table(title=f"{shared.number} (agreement {shared.agreement_id})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in shared.fields.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        table.add_row(key, "" if value is None else text)
    out.print(table)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from bdcert.errors import IdentityError

    ws = Workspace.load(args.workspace)
    try:  # the output directory is made and tried first: no download is logged that cannot land
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=args.out):
            pass
    except OSError as exc:
        err.print(
            f"[red]error:[/] --out {escape(str(args.out))}: {escape(str(exc))}", soft_wrap=True
        )
        return 2
    with Registry.open(ws) as registry:
        try:
            issued = registry.self_download(args.name, args.id_number, args.paper_number)
        except IdentityError as exc:  # the proof failed, or the identity is locked
            err.print(f"[bold red]refused:[/] {exc}")
            return 1
    for item in issued:
        files = []
        for suffix, data in (("pdf", item.pdf), ("ofd", item.ofd)):
            if data is not None:
                path = args.out / f"{item.certificate.number}.{suffix}"
                try:
                    path.write_bytes(data)
                except OSError as exc:  # after the checks above: a full disk, say
                    err.print(
                        f"[red]error:[/] {escape(str(path))}: {escape(str(exc))}", soft_wrap=True
                    )
                    return 2
                files.append(str(path))
        if args.json:
            _print_json(
                {
                    "number": item.certificate.number,
                    "status": item.certificate.status.value,
                    "restricted": item.certificate.restricted_at(datetime.now(CHINA_TZ)),
                    "files": files,
                }
            )
        else:
            status = _status_text(item.certificate)
            out.print(f"{item.certificate.number} ({status}): {', '.join(files)}")
    return 0


def cmd_seals(args: argparse.Namespace) -> int:
    from bdcert.gm.seals import list_seals

    ws = Workspace.load(args.workspace)
    if args.make:
        _make_seal(ws, args)
    records = list_seals(ws.path)
    table = Table(title="e-seals (GB/T 38540)")
    for col in ("authority", "esID", "name", "valid from", "valid to", "days left", "attention"):
        table.add_column(col, overflow="fold")
    for r in records:
        table.add_row(
            r.authority_code,
            r.es_id,
            r.name,
            f"{r.valid_start.astimezone(CHINA_TZ):%Y-%m-%d}",
            f"{r.valid_end.astimezone(CHINA_TZ):%Y-%m-%d}",
            str(r.days_left),
            f"[yellow]{r.warning}[/]" if r.warning else "",
        )
    out.print(table if records else "no seals in this workspace (made by init --algorithm sm2)")
    for r in records:
        if r.warning:
            err.print(f"[yellow]warning:[/] {r.warning}")
    if ws.table("seal").get("plugin") == "sm2":
        sealed = {r.authority_code for r in records if r.warning is None}
        for code in sorted(set(ws.authorities()) - sealed):
            err.print(
                f"[yellow]warning:[/] authority {code} has no valid seal: it cannot issue "
                f"(make one with bdcert seals --make {code}; rule article 9)"
            )
    return 0


def _make_seal(ws: Workspace, args: argparse.Namespace) -> None:
    """A new seal for one authority, made by the given maker for its configured signer."""
    from asn1crypto import pem

    from bdcert.fonts import font_config_from_settings
    from bdcert.gm.seals import create_authority_seal
    from bdcert.gm.sm2 import SM2PrivateKey
    from bdcert.render import Renderer

    authorities = ws.authorities()
    signer = ws.table("seal").get("authorities", {}).get(args.make)
    if args.make not in authorities or not signer:
        raise BdcertError(f"authority {args.make} has no SM2 signing key in [seal] authorities")
    if not (args.maker_key and args.maker_cert):
        raise BdcertError("--make needs --maker-key and --maker-cert (the seal maker, a CA)")

    def der(path: Path) -> bytes:
        return bytes(pem.unarmor(path.read_bytes())[2])

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
    out.print(f"new seal: {path}")


def cmd_plugins(args: argparse.Namespace) -> int:
    from bdcert.plugins import Hooks

    hooks = Hooks()
    ws = None
    with contextlib.suppress(BdcertError):  # plugins are listed even without a workspace
        ws = Workspace.load(args.workspace)
    table = Table(title="bdcert plugins")
    for col in ("hook", "installed", "active"):
        table.add_column(col)
    for label, registry, key, default in (
        ("storage", hooks.storage(), "storage", "sql"),
        ("seal", hooks.seal_providers(), "seal", "software"),
        ("identity", hooks.identity_providers(), "identity", "local"),
        ("notifiers", hooks.notifiers(), "notifiers", None),
    ):
        if ws is None:
            active = "(no workspace)"
        elif key == "notifiers":
            active = ", ".join(ws.table(key).get("plugins", ["log"]))
        else:
            active = str(ws.table(key).get("plugin", default))
        table.add_row(label, ", ".join(registry.names()), active)
    out.print(table)
    for name, module in hooks.plugin_names().items():
        out.print(f"  {name}: {module}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
