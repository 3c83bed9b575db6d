"""``bdcert issue``: registration-book entries in, certificates (or reasons) out."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bdcert_adapters.cli.common import (
    add_command,
    console,
    echo,
    lines,
    load_workspace,
    open_session,
    plain,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from bdcert.lifecycle import Registry
    from bdcert.model import Principal


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers, "issue", "process registration-book entries (one JSON object per line)"
    )
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


def cmd_issue(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    ws = load_workspace(args)
    entries = list(lines(args.file))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    failed = False
    formats = {"pdf": ("pdf",), "ofd": ("pdf", "ofd"), "both": ("pdf", "ofd"), None: None}[
        args.format
    ]
    written = {"pdf": ("pdf",), "ofd": ("ofd",), "both": ("pdf", "ofd")}.get(args.format or "")
    with open_session(args, ws, formats=formats) as session:
        registry = session.registry
        principal = session.principal(args.operator)
        written = written or registry.formats
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task("issuing", total=len(entries))
            for line_no, text in entries:
                record = _issue_line(registry, principal, text, args.out, written)
                failed |= record["outcome"] == "failed"
                record = {"line": line_no, **record}
                rows.append((line_no, record))
                if args.json:
                    print_json(record)
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
    from bdcert_adapters.entry_lines import issue_line

    record, result = issue_line(registry, principal, text)
    if result is None:
        return record
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
    table: list[tuple[str | tuple[str, str], ...]] = []
    counts: dict[str, int] = {}
    for line_no, r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        effect = list(r.get("numbers", []))
        effect += [f"supersedes {n}" for n in r.get("supersedes", [])]
        effect += [f"cancels {n}" for n in r.get("cancels", [])]
        effect += [f"restricts {n}" for n in r.get("restricts", [])]
        effect += [f"announces void {n}" for n in r.get("announcements", [])]
        reasons = "\n".join(  # one line per reason: a line break in a reason is shown as \n
            plain(f"{e['field'] or '(entry)'}: {e['message']}") for e in r.get("errors", [])
        )
        if r.get("reason"):
            reasons = plain(f"waits in the backlog: {r['reason']}")
        style = {
            "rejected": "red",
            "failed": "bold red",
            "none": "yellow",
            "backlogged": "magenta",
        }.get(r["outcome"], "green")
        table.append(
            (
                str(line_no),
                str(r.get("ywh") or ""),
                (r["outcome"], style),
                "\n".join(effect),
                reasons,
            )
        )
    print_table(
        "bdcert issue", ("line", "ywh", "outcome", "certificates / effect", "reasons"), table
    )
    echo("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
