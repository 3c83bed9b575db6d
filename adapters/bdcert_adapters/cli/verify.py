"""``bdcert verify``, ``show``, ``status`` and ``lookup``: a certificate's truth."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bdcert_adapters.cli.common import (
    add_command,
    certificate_wire,
    echo,
    error,
    open_session,
    print_fields,
    print_json,
    status_text,
    verdict_exit_code,
    verify_exit_code,
)

if TYPE_CHECKING:
    from bdcert.model import Certificate, Verdict


def register(subparsers: Any) -> None:
    c = add_command(subparsers, "verify", "verify certificate files (PDF or OFD)")
    c.add_argument("files", metavar="FILE", type=Path, nargs="+")
    c.add_argument("--json", action="store_true")
    c.add_argument(
        "--offline",
        action="store_true",
        help="verify without a workspace or register: seal, integrity and issuer against"
        " --trust-bundle, and the status from --snapshot when given",
    )
    c.add_argument(
        "--trust-bundle",
        type=Path,
        metavar="FILE",
        help="with --offline: the trust bundle (bdcert trust-bundle export)",
    )
    c.add_argument(
        "--snapshot",
        type=Path,
        metavar="FILE",
        help="with --offline: a sealed status snapshot (bdcert status-snapshot)",
    )
    c.add_argument(
        "--at",
        type=_validation_time,
        metavar="TIME",
        help="validate the seals as of this time (ISO 8601 with offset, e.g. 2046-01-01T00:00Z),"
        " from the evidence they embed (PAdES B-LT/B-LTA); default now",
    )
    c.set_defaults(func=cmd_verify)
    from bdcert_adapters.cli import trust

    trust.register(subparsers)  # trust-bundle export, status-snapshot: offline verification

    for name, help_, func in (
        ("show", "show a certificate's face and status", cmd_show),
        ("status", "print a certificate's status", cmd_status),
    ):
        c = add_command(subparsers, name, help_)
        c.add_argument("number", metavar="NUMBER")
        c.add_argument("--json", action="store_true")
        c.add_argument("--operator", help="who asks (default: the workspace's default_operator)")
        c.set_defaults(func=func)
    c = add_command(
        subparsers, "lookup", "check a certificate in the register by QR token or by number"
    )
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--token", help="the token at the end of the QR code's URL")
    which.add_argument("--number", help="the certificate number (anonymously: with --name)")
    c.add_argument(
        "--name",
        help="a 权利人's name as registered: needed with --number unless --operator sees it",
    )
    c.add_argument("--json", action="store_true")
    c.add_argument("--operator", help="who asks (default: anonymous, personal data masked)")
    c.set_defaults(func=cmd_lookup)


def _validation_time(text: str) -> datetime:
    """An aware time from ISO 8601 (``Z`` allowed); argparse names a bad one."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a UTC offset (e.g. Z or +08:00): {text!r}")
    return value


def _verdict_wire(file: Path, v: Verdict) -> dict[str, Any]:
    record: dict[str, Any] = {
        "file": str(file),
        "verdict": v.code.value,
        "trusted": v.trusted,
        "detail": v.detail,
        "signer": v.signer,
        "signed_at": v.signed_at.isoformat() if v.signed_at else None,
        # how a sound seal breaks the scheme's form (NONCONFORMING): code, sentence, detail
        "form": [{"code": f.code, "sentence": f.sentence, "detail": f.detail} for f in v.form],
    }
    if v.certificate is not None:
        record["certificate"] = certificate_wire(v.certificate, v.granted_fields)
    return record


def cmd_verify(args: argparse.Namespace) -> int:
    if args.offline:
        return _verify_offline(args)
    if args.trust_bundle is not None or args.snapshot is not None:
        error("--trust-bundle and --snapshot go with --offline")
        return 2
    from bdcert.verify.report import LEVEL_ONLINE

    unreadable: list[Path] = []
    worst = 0
    with open_session(args) as session:
        for file, data in _read_each(args.files, unreadable):
            v = session.registry.verify(data, at=args.at)
            worst = max(worst, verify_exit_code(v))
            if args.json:
                record = _verdict_wire(file, v)
                record["level"] = LEVEL_ONLINE
                print_json(record)
            else:
                style = "green" if v.ok else ("yellow" if v.trusted else "red")
                number = f" {v.certificate.number}" if v.certificate else ""
                echo(
                    (v.code.value.upper(), style),
                    f" {file}{number}: {v.detail} [{LEVEL_ONLINE}]",
                )
    return 2 if unreadable else worst


def _read_each(files: list[Path], unreadable: list[Path]) -> Iterator[tuple[Path, bytes]]:
    """Each of ``files`` with its bytes, in order; one that cannot be read is reported on stderr
    and added to ``unreadable`` (the command then exits 2)."""
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as exc:
            error(f"{file}: {exc}")
            unreadable.append(file)
            continue
        yield file, data


def _verify_offline(args: argparse.Namespace) -> int:
    """``verify --offline``: no workspace is opened (:func:`bdcert.verify.offline.verify_offline`);
    the exit codes are those of the online check."""
    from bdcert.verify.offline import TrustBundle, read_status_snapshot, verify_offline

    if args.trust_bundle is None:
        error("--offline needs --trust-bundle FILE (bdcert trust-bundle export)")
        return 2
    bundle = TrustBundle.load(args.trust_bundle.read_bytes())
    snapshot = None
    if args.snapshot is not None:
        snapshot = read_status_snapshot(args.snapshot.read_bytes(), bundle)
    unreadable: list[Path] = []
    worst = 0
    for file, data in _read_each(args.files, unreadable):
        report = verify_offline(data, bundle, snapshot, name=str(file), at=args.at)
        code = report.verdict
        exit_code = verdict_exit_code(report.ok, code)
        worst = max(worst, exit_code)
        if args.json:
            record = report.as_dict()
            record["file"] = str(file)
            print_json(record)
        else:
            style = "green" if report.ok else ("yellow" if exit_code == 1 else "red")
            number = f" {report.number}" if report.number else ""
            echo(
                (code.value.upper(), style),
                f" {file}{number}: {report.detail} [{report.level}; trust bundle "
                f"sha256:{bundle.sha256}]",
            )
    return 2 if unreadable else worst


def _lookup(args: argparse.Namespace) -> Certificate:
    with open_session(args) as session:
        return session.registry.certificate(args.number, principal=session.principal(args.operator))


def cmd_show(args: argparse.Namespace) -> int:
    c = _lookup(args)
    if args.json:
        print_json(certificate_wire(c))
        return 0
    rows = [(item.label, item.value) for item in c.face]
    rows.append(("电子证照标识", c.licence_id))
    rows.append(("状态 status", status_text(c)))
    rows.append(("核验 verify", c.verification_url))
    print_fields(f"{c.kind.title} {c.number}", ("item", "value"), rows)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    c = _lookup(args)
    if args.json:
        wire = certificate_wire(c)
        keys = ("number", "status", "superseded_by", "cancel_reason", "restrictions")
        print_json({k: wire[k] for k in keys})
    else:
        echo(f"{c.number}: {status_text(c)}")
    return 0


def cmd_lookup(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        principal = session.principal(args.operator) if args.operator else None
        v = session.registry.lookup(
            token=args.token, number=args.number, name=args.name, principal=principal
        )
    if args.json:
        record: dict[str, Any] = {"verdict": v.code.value, "detail": v.detail}
        if v.certificate is not None:
            record["certificate"] = certificate_wire(v.certificate, v.granted_fields)
        print_json(record)
    else:
        number = f" {v.certificate.number}" if v.certificate else ""
        echo(f"{v.code.value.upper()}{number}: {v.detail}")
        holders = v.certificate.face_value("qlr") if v.certificate is not None else None
        if holders is not None:  # a sharing party not granted 权利人 sees none
            echo(f"  权利人: {holders}")
    return verify_exit_code(v)
