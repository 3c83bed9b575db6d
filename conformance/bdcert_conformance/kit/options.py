"""Run options from command-line style strings, shared by ``bdcert conformance run`` and the
pytest plugin: every bad option is named in one :class:`KitUsageError`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bdcert_conformance.kit.model import PLAN_NAMES, KitUsageError, RunOptions

__all__ = ["make_options"]


def _pairs(values: Sequence[str], option: str, problems: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            problems.append(f"{option} {value!r}: expected KEY=VALUE")
            continue
        out[key.strip()] = rest
    return out


def _certificates(data: bytes) -> int:
    """How many X.509 certificates ``data`` holds (PEM blocks, or one DER certificate)."""
    from cryptography import x509

    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return len(x509.load_pem_x509_certificates(data))
        x509.load_der_x509_certificate(data)
        return 1
    except ValueError:
        return 0


def make_options(
    *,
    plan: str | None,
    entries: Path | None = None,
    documents: Path | None = None,
    trust: Sequence[Path] = (),
    target: str | None = None,
    province: str | None = None,
    tokens: Sequence[str] = (),
    workspace: Path | None = None,
    settings: Sequence[str] = (),
    system: str | None = None,
    vendor: str = "",
    system_version: str = "",
    certify: bool = False,
    only: Sequence[str] = (),
) -> RunOptions:
    """:class:`RunOptions` from strings: ``tokens`` as ``ROLE=TOKEN``, ``settings`` as
    ``KEY=VALUE``; files and directories must exist.

    :raises KitUsageError: naming every bad option (a missing plan, a file that is not there, a
        pair without ``=``).
    """
    problems: list[str] = []
    if plan not in PLAN_NAMES:
        problems.append(f"--plan {plan!r}: must be one of {', '.join(PLAN_NAMES)}")
    if entries is not None and not entries.is_file():
        problems.append(f"--entries {entries}: no such file")
    if documents is not None and not documents.is_dir():
        problems.append(f"--documents {documents}: no such directory")
    for path in trust:
        if not path.is_file():
            problems.append(f"--trust {path}: no such file")
        elif not _certificates(path.read_bytes()):
            problems.append(f"--trust {path}: not a certificate (PEM or DER)")
    if workspace is not None and not workspace.is_dir():
        problems.append(f"--workspace {workspace}: no such directory")
    for url, option in ((target, "--target"), (province, "--province")):
        if url is not None and not url.startswith(("http://", "https://")):
            problems.append(f"{option} {url!r}: expected an http:// or https:// URL")
    if certify and only:
        problems.append(
            "--certify with --only: a certification runs every check of the plan, not a selection"
        )
    token_map = _pairs(tokens, "--token", problems)
    setting_map = _pairs(settings, "--set", problems)
    if problems:
        raise KitUsageError("; ".join(problems))
    assert plan is not None
    return RunOptions(
        plan=plan,
        entries=entries,
        documents=documents,
        trust=tuple(trust),
        target=target.rstrip("/") if target else None,
        province=province.rstrip("/") if province else None,
        tokens=token_map,
        workspace=workspace,
        settings=setting_map,
        system=system or "unnamed system",
        vendor=vendor,
        system_version=system_version,
        certify=certify,
        only=tuple(only),
    )
