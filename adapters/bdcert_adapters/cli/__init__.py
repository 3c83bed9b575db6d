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
import os
import sys
from collections.abc import Sequence

from bdcert_adapters.cli import (
    audit,
    backlog,
    download,
    evidence,
    init,
    issue,
    notify,
    plugins,
    reconcile,
    seals,
    sharing,
    verify,
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


def quiet_third_parties() -> None:
    """What third-party libraries would say to a user who can do nothing about it: pyHanko's
    logged tracebacks and the deprecation warnings of the libraries it uses."""
    import logging
    import warnings

    from cryptography.utils import CryptographyDeprecationWarning

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
