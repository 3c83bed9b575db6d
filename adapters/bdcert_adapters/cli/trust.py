"""``bdcert trust-bundle export`` and ``bdcert status-snapshot``: what a bank takes away to
verify certificates offline (``bdcert verify --offline``; :mod:`bdcert.verify.offline`).

- ``bdcert trust-bundle export --out FILE``: the workspace's trust roots, seal certificates and
  CRLs as one versioned JSON file; prints its SHA-256 (the digest a bank pins).
- ``bdcert status-snapshot --out FILE``: a status snapshot of the register now (the numbers no
  longer in force, the restricted ones), sealed by the ``[audit]`` authority; prints its time and
  counts. Check it with ``pdfsig`` (the bundle's root trusted) or ``bdcert verify --offline``.

Both are registered by :func:`bdcert_adapters.cli.verify.register` (the verify command group).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import add_command, echo, open_session, print_json

__all__ = ["register"]


def register(subparsers: Any) -> None:
    c = subparsers.add_parser(
        "trust-bundle",
        help="the trust bundle a bank pins for offline verification",
        description="the trust bundle a bank pins for offline verification",
    )
    actions = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = add_command(actions, "export", "write the workspace's trust bundle (JSON) to a file")
    e.add_argument("--out", type=Path, required=True, metavar="FILE")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_trust_bundle_export)

    s = add_command(
        subparsers,
        "status-snapshot",
        "write a sealed status snapshot of the register (for offline verification)",
    )
    s.add_argument("--out", type=Path, required=True, metavar="FILE")
    s.add_argument("--json", action="store_true")
    s.add_argument("--operator", help="who asks (recorded in the audit log)")
    s.set_defaults(func=cmd_status_snapshot)


def cmd_trust_bundle_export(args: argparse.Namespace) -> int:
    from bdcert.verify.offline import make_trust_bundle

    with open_session(args) as session:
        bundle = make_trust_bundle(session.registry)
    args.out.write_bytes(bundle.to_json())
    record = {
        "file": str(args.out),
        "sha256": bundle.sha256,
        "made_at": bundle.made_at.isoformat(),
        "roots": len(bundle.roots),
        "chain": len(bundle.chain),
        "crls": len(bundle.crls),
    }
    if args.json:
        print_json(record)
    else:
        echo(
            f"trust bundle {args.out}: sha256 {bundle.sha256} ({len(bundle.roots)} roots, "
            f"{len(bundle.chain)} seal certificates, {len(bundle.crls)} CRLs)"
        )
    return 0


def cmd_status_snapshot(args: argparse.Namespace) -> int:
    from bdcert.verify.offline import make_status_snapshot, make_trust_bundle, read_status_snapshot

    with open_session(args) as session:
        made_by = args.operator or session.ws.default_operator or "bdcert (command line)"
        pdf = make_status_snapshot(session.registry, made_by=made_by)
        bundle = make_trust_bundle(session.registry)
    snapshot = read_status_snapshot(pdf, bundle)  # what a bank will check, checked now
    args.out.write_bytes(pdf)
    counts = {
        s: sum(e.status == s for e in snapshot.entries.values())
        for s in ("superseded", "cancelled", "restricted")
    }
    record = {
        "file": str(args.out),
        "made_at": snapshot.made_at.isoformat(),
        "authority_code": snapshot.authority_code,
        "json_sha256": snapshot.sha256,
        "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
        **counts,
    }
    if args.json:
        print_json(record)
    else:
        echo(
            f"status snapshot {args.out} as of {record['made_at']}, sealed by "
            f"{snapshot.authority_code}: {counts['superseded']} superseded, "
            f"{counts['cancelled']} cancelled, {counts['restricted']} restricted"
        )
    return 0
