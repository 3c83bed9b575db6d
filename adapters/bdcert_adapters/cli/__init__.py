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
  is genuine but superseded or cancelled, or genuine and registered but its seal does not conform
  to the scheme (NONCONFORMING: an invisible seal, no certification lock, a signing time that is
  not the issue time; the detail names which); 2 when one is not a genuine, unchanged,
  registered certificate.
- ``share``: 0 when the certificate was shared; 1 when refused (no active agreement covering it,
  not a sharing party) or unknown.
- ``download``: 0 when the holder's certificates were written; 1 when the proof failed or the
  identity is locked after too many failures.
- ``unlock``, ``download-code``: 0 when done; 2 when refused (not a clerk of the authority) or
  bad usage.
- ``city reconcile``: 0 when this library equals the province's; 1 when it differs.
- ``conformance run``: 0 when no check failed (with ``--certify``, none skipped); 1 otherwise.
  ``conformance selftest``: 0 when every broken implementation is caught; 1 otherwise.
- any command: 2 for bad usage or configuration; 70 for an internal error (a bug: reported on
  stderr as one plain line, never with a code that means a verdict).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from bdcert_adapters.cli import (
    audit,
    backlog,
    city,
    conformance,
    download,
    evidence,
    init,
    issue,
    notify,
    plugins,
    reconcile,
    seals,
    serve,
    sharing,
    tokens,
    verify,
    witness,
)
from bdcert_adapters.cli.common import error

__all__ = ["build_parser", "main"]

COMMAND_GROUPS = (
    init,
    issue,
    verify,
    notify,
    reconcile,
    backlog,
    audit,
    sharing,
    download,
    seals,
    evidence,
    serve,
    witness,
    city,
    tokens,
    conformance,
    plugins,
)
"""The command modules, in the order ``bdcert --help`` lists their commands."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_third_parties()
    from bdcert.errors import BdcertError

    try:
        return int(args.func(args))
    except BdcertError as exc:
        error(str(exc))
        return 2
    except BrokenPipeError:  # e.g. `bdcert issue … --json | head`: the reader has gone
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a file named on the command line is missing, unreadable, …
        where = f": {exc.filename}" if exc.filename else ""
        error(f"{exc.strerror or exc}{where}")
        return 2
    except Exception as exc:  # a bug: its exit code must not read as a verdict (verify's 1)
        error(f"{type(exc).__name__}: {exc} (a bdcert bug; please report it)", "internal error")
        return INTERNAL_ERROR


#: The exit code of a command that failed on a bug (BSD ``EX_SOFTWARE``), not on its input.
INTERNAL_ERROR = 70


class PlainLogFormatter:
    """Log records for a terminal: ``warning: MESSAGE`` with the message on one line and its
    controls made visible (:func:`~bdcert_adapters.cli.common.plain`), a traceback's lines
    indented under it; nothing a record carries (a business number, an exception from a seal
    service) reaches the terminal raw or starts a line of its own."""

    def format(self, record: logging.LogRecord) -> str:
        from bdcert_adapters.cli.common import plain

        text = f"{record.levelname.lower()}: {plain(record.getMessage())}"
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            text += "".join(f"\n  | {plain(line)}" for line in trace.splitlines())
        return text


class _StderrHandler(logging.Handler):
    """Writes :class:`PlainLogFormatter` lines to whatever ``sys.stderr`` is when a record comes
    (warnings and above)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.formatter_ = PlainLogFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.formatter_.format(record) + "\n")
        except Exception:  # a closed stream: logging must never fail the command
            self.handleError(record)


def quiet_third_parties() -> None:
    """What third-party libraries would say to a user who can do nothing about it: pyHanko's
    logged tracebacks and the deprecation warnings of the libraries it uses."""
    import warnings

    from cryptography.utils import CryptographyDeprecationWarning

    # bdcert's own warnings (a seal failure sending an entry to the backlog, …) as plain lines
    bdcert_log = logging.getLogger("bdcert")
    if not any(isinstance(h, _StderrHandler) for h in bdcert_log.handlers):
        bdcert_log.addHandler(_StderrHandler())
    # pyHanko logs every failed path validation with a traceback; the verdict already says it.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # pyHanko imports cryptography's DSA types (deprecated): a warning on every command.
    for module in (r"pyhanko(\..*)?$", r"pyhanko_certvalidator(\..*)?$"):
        warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=module)


def build_parser() -> argparse.ArgumentParser:
    """The ``bdcert`` parser: each command module adds its commands with ``register``."""
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
    for group in COMMAND_GROUPS:
        group.register(sub)
    return p
