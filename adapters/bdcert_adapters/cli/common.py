"""What every command shares: opening the workspace and its Registry, printing.

Nothing heavy is imported here at module level: the parser imports every command module, and
``bdcert --help`` must not pay for the SDK, its plugins or ``rich``. Each helper imports what it
needs when it runs.

Printing: JSON is one object per line on stdout (:func:`print_json`); lines and tables are plain
text or :class:`rich.text.Text`, never rich markup, so user data (names, file names, error
messages such as ``pip install 'bdcert[gm]'``) is printed as it is, with control characters
made visible (:func:`plain`): escape sequences, C1 controls, carriage returns and line breaks
(a name holding ``\nVALID`` cannot print a line of its own), and the bidirectional overrides
that reorder what a terminal shows. Table cells keep line breaks (inside the cell's box).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

    from bdcert.config import Workspace
    from bdcert.lifecycle import Registry
    from bdcert.model import Certificate, Principal, Verdict, VerdictCode

Part = str | tuple[str, str]  # plain text, or (text, rich style) shown in colour on a terminal
"""A piece of a printed line: text, or text with a style (``("VALID", "green")``)."""

#: Terminal controls (C0 but tab, DEL, C1), line and paragraph separators, and the bidirectional
#: embeddings, overrides and isolates (Unicode UAX #9) that reorder the text a terminal shows.
_CONTROL = re.compile(
    r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_CONTROL_IN_CELL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _visible(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]  # \n, \x1b, \x9b, \u202e


def plain(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with terminal control characters (escape sequences, carriage returns, line
    breaks, C1 controls, bidi overrides, …) shown as ``\\x1b``, ``\\n``, ``\\u202e`` and the
    like instead of being sent to the terminal.

    :param keep_newlines: keep ``\\n`` (for a table cell, where a line break stays in the cell).
    """
    return (_CONTROL_IN_CELL if keep_newlines else _CONTROL).sub(_visible, str(text))


# -- opening the workspace -------------------------------------------------------------------
class Session:
    """An open workspace and its :class:`~bdcert.lifecycle.Registry`, for one command."""

    def __init__(self, ws: Workspace, registry: Registry) -> None:
        self.ws = ws
        self.registry = registry

    def principal(self, operator: str | None) -> Principal:
        """The named operator, else the workspace's ``default_operator``, authenticated."""
        name = operator or self.ws.default_operator
        if not name:
            from bdcert.errors import BdcertError

            raise BdcertError(
                "name an operator with --operator (no default_operator in the workspace)"
            )
        return self.registry.authenticate({"operator": name})


def load_workspace(args: argparse.Namespace) -> Workspace:
    """The workspace named by ``--workspace`` (else ``$BDCERT_WORKSPACE``, ``./bdcert-workspace``)."""
    from bdcert.config import Workspace

    return Workspace.load(args.workspace)


@contextmanager
def open_session(
    args: argparse.Namespace, ws: Workspace | None = None, **options: Any
) -> Iterator[Session]:
    """Load the workspace of ``args`` (unless given) and open its Registry for the ``with``
    block; ``options`` go to :meth:`Registry.open` (``formats=…``)."""
    from bdcert.lifecycle import Registry

    ws = ws if ws is not None else load_workspace(args)
    with Registry.open(ws, **options) as registry:
        yield Session(ws, registry)


# -- printing --------------------------------------------------------------------------------
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def print_json(record: dict[str, Any]) -> None:
    """One JSON object per line on stdout, untouched by rich's markup; the characters JSON
    leaves raw that a terminal acts on (C1 controls, bidi overrides, line separators) are
    written as ``\\uXXXX`` escapes (the same JSON value)."""
    text = json.dumps(record, ensure_ascii=False)
    sys.stdout.write(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")
    sys.stdout.flush()


def console(stderr: bool = False) -> Console:
    """A rich console on stdout or stderr (imports rich: for tables and progress bars)."""
    from rich.console import Console

    if stderr:
        return Console(stderr=True, highlight=False)
    out = Console(highlight=False, soft_wrap=True)
    if not out.is_terminal:  # piped or logged: rich would assume 80 columns and fold the table
        out = Console(highlight=False, soft_wrap=True, width=160)
    return out


def echo(*parts: Part, stderr: bool = False) -> None:
    """Print one line of plain text; a ``(text, style)`` part is coloured on a terminal."""
    stream: TextIO = sys.stderr if stderr else sys.stdout
    if all(isinstance(p, str) for p in parts) or not stream.isatty():
        stream.write(plain("".join(p if isinstance(p, str) else p[0] for p in parts)) + "\n")
        stream.flush()
        return
    from rich.text import Text

    safe = [plain(p) if isinstance(p, str) else (plain(p[0]), p[1]) for p in parts]
    console(stderr).print(Text.assemble(*safe), soft_wrap=True)


def error(message: str, label: str = "error") -> None:
    """``error: MESSAGE`` (or ``refused: …``) on stderr, as plain text."""
    echo((f"{label}:", "bold red"), " ", message, stderr=True)


def warning(message: str) -> None:
    """``warning: MESSAGE`` on stderr, as plain text."""
    echo(("warning:", "yellow"), " ", message, stderr=True)


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Part]],
    *,
    show_header: bool = True,
    column_options: dict[str, dict[str, Any]] | None = None,
    row_styles: Sequence[str | None] | None = None,
) -> None:
    """A rich table on stdout; every cell and the title are text, never markup.

    :param column_options: keyword arguments for some columns' ``add_column`` (default: the
        column folds long values).
    :param row_styles: a style per row (``"dim"``), or none.
    """
    from rich.table import Table
    from rich.text import Text

    def cell(part: Part) -> Text:
        text, style = (part, "") if isinstance(part, str) else part
        return Text(plain(text, keep_newlines=True), style=style)

    table = Table(title=Text(plain(title)), show_header=show_header)
    for col in columns:
        table.add_column(col, **(column_options or {}).get(col, {"overflow": "fold"}))
    for i, row in enumerate(rows):
        table.add_row(*map(cell, row), style=row_styles[i] if row_styles else None)
    console().print(table)


def print_fields(title: str, names: tuple[str, str], rows: Iterable[tuple[str, str]]) -> None:
    """A two-column table without a header on stdout: a bold name, then its value."""
    print_table(title, names, rows, show_header=False, column_options={names[0]: {"style": "bold"}})


# -- shared shapes -----------------------------------------------------------------------------
def add_command(subparsers: Any, name: str, help_: str) -> argparse.ArgumentParser:
    """A command's parser, with ``--workspace DIR``; ``subparsers`` is what
    ``add_subparsers()`` returned."""
    command: argparse.ArgumentParser = subparsers.add_parser(name, help=help_, description=help_)
    command.add_argument(
        "--workspace",
        metavar="DIR",
        help="workspace directory (default: $BDCERT_WORKSPACE or ./bdcert-workspace)",
    )
    return command


def lines(file: Path) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a JSON-lines file, with their 1-based line numbers."""
    with file.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield number, line


def aware(text: str) -> datetime:
    """An ``argparse`` type: an ISO 8601 time that must carry an offset."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset, e.g. 2024-04-01T00:00+08:00")
    return value


def verify_exit_code(v: Verdict) -> int:
    """0 genuine and in force; 1 genuine but superseded or cancelled, or genuine and registered
    but its seal does not conform (NONCONFORMING); 2 anything else."""
    return verdict_exit_code(v.ok, v.code)


def verdict_exit_code(ok: bool, code: VerdictCode) -> int:
    """:func:`verify_exit_code` of a verdict's ``ok`` and ``code`` (a report's too)."""
    from bdcert.model import VerdictCode

    if ok:
        return 0
    if code in (VerdictCode.SUPERSEDED, VerdictCode.CANCELLED, VerdictCode.NONCONFORMING):
        return 1
    return 2


#: What a sharing party's ``--json`` certificate carries for each granted field (beyond the
#: number, always there): ``status`` brings the status's details.
_GRANTED_KEYS = {
    "kind": ("kind",),
    "licence_id": ("licence_id",),
    "issued_at": ("issued_at",),
    "status": ("status", "restricted", "superseded_by", "cancel_reason"),
    "restrictions": ("restrictions",),
}


def certificate_wire(c: Certificate, grant: Collection[str] | None = None) -> dict[str, Any]:
    """A certificate as the ``--json`` output of ``show``, ``verify`` and ``lookup`` has it.

    :param grant: a sharing party's granted fields (:attr:`bdcert.model.Verdict.granted_fields`):
        only the number, the granted fields (:data:`_GRANTED_KEYS`) and the granted face items
        (``face``, when any is granted) are there; the others are absent.
    """
    from bdcert.model import CHINA_TZ

    wire = {
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
    if grant is None:
        return wire
    keys = {"number"} | {k for f in grant for k in _GRANTED_KEYS.get(f, ())}
    if c.face:
        keys.add("face")
    return {k: v for k, v in wire.items() if k in keys}


def status_text(c: Certificate) -> str:
    """A certificate's status in words: ``superseded by …``, ``cancelled: …``, restrictions."""
    text = c.status.value
    if c.superseded_by:
        text += f" by {'、'.join(c.superseded_by)}"
    if c.cancel_reason:
        text += f": {c.cancel_reason}"
    for r in c.restrictions:
        text += f"; restricted (查封 by {r.authority}, {r.document_number})"
    return text
