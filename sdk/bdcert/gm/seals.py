"""Seal management (制章) for a workspace: make, list and pick the GB/T 38540 seals of authorities.

Seals are DER ``SESeal`` files (:mod:`bdcert.gm.ses`) in ``<workspace>/seals/``, one per seal,
named ``<authority code>-<es_id>.esl`` (the suffix OFD readers use). An authority may hold
several (a renewed seal next to the one it replaces); :func:`current_seal` picks the valid one
that lasts longest. Rule article 9 asks authorities to renew or replace e-seals in time:
:func:`list_seals` warns about every seal with fewer than :data:`RENEWAL_WARNING_DAYS` days
left, or already expired.

Rule article 3: the e-seal is made on the provincial platform; here the workspace plays that
part, with a seal maker's key and certificate the caller supplies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from bdcert.errors import ConfigurationError, SealingError
from bdcert.gm.ses import Seal, SealFormatError, SealPicture, make_seal, parse_seal
from bdcert.gm.x509 import certificate_not_after
from bdcert.model import CHINA_TZ, Authority

if TYPE_CHECKING:
    from bdcert.gm.sm2 import SM2PrivateKey

__all__ = [
    "RENEWAL_WARNING_DAYS",
    "SEALS_DIR",
    "SEAL_SUFFIX",
    "SealRecord",
    "create_authority_seal",
    "current_seal",
    "list_seals",
    "seals_dir",
]

#: The workspace subdirectory holding seal files.
SEALS_DIR = "seals"
#: The suffix of seal files (DER ``SESeal``).
SEAL_SUFFIX = ".esl"
#: :func:`list_seals` warns when fewer days than this remain (rule article 9).
RENEWAL_WARNING_DAYS = 30

_SAFE = re.compile(r"[0-9A-Za-z_-]{1,64}")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_DAY = timedelta(days=1)


@attrs.define(frozen=True)
class SealRecord:
    """One seal file of a workspace, as :func:`list_seals` reports it.

    :ivar path: the ``.esl`` file.
    :ivar authority_code: the authority (``djjg``) from the file name.
    :ivar es_id: the seal's identifier (``esID``). :ivar name: the seal's name.
    :ivar valid_start: aware, UTC. :ivar valid_end: aware, UTC.
    :ivar days_left: whole days from the listing time to ``valid_end``; negative once expired.
    :ivar warning: why the seal needs attention (expired, fewer than 30 days left, not yet
        valid, file name not matching the content), or None.
    :ivar seal: the parsed seal.
    """

    path: Path
    authority_code: str
    es_id: str
    name: str
    valid_start: datetime
    valid_end: datetime
    days_left: int
    warning: str | None
    seal: Seal = attrs.field(repr=False)


def seals_dir(workspace_dir: str | os.PathLike[str]) -> Path:
    """``<workspace>/seals``."""
    return Path(workspace_dir) / SEALS_DIR


def _now(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise SealingError(f"the time must be timezone-aware, got {at!r}")
    return at.astimezone(UTC)


def _new_es_id(directory: Path, code: str, start: datetime) -> str:
    """``<authority code><yyyymmdd of start><2-digit sequence>``, unused in ``directory``."""
    stem = f"{code}{start:%Y%m%d}"
    for seq in range(1, 100):
        es_id = f"{stem}{seq:02d}"
        if not (directory / f"{code}-{es_id}{SEAL_SUFFIX}").exists():
            return es_id
    raise SealingError(f"authority {code} already has 99 seals made on {start:%Y-%m-%d}")


def create_authority_seal(
    workspace_dir: str | os.PathLike[str],
    authority: Authority,
    maker_key: SM2PrivateKey,
    maker_cert_der: bytes,
    signer_cert_der: bytes,
    picture_png: bytes,
    valid_days: int = 365 * 3,
    width_mm: int = 42,
    height_mm: int = 42,
    *,
    now: datetime | None = None,
) -> Path:
    """Make a v4 seal (GB/T 38540-2020 §6) for ``authority`` and store it in the workspace.

    The seal is an organisation seal (type 1) named after the authority, listing
    ``signer_cert_der`` as its only signer certificate, valid for ``valid_days`` days from
    ``now``, but never past the signer certificate's ``notAfter``: a seal cannot outlive the
    certificate that signs with it (its seal signatures could never verify), so its validity
    is cut there (the caller compares the seal's ``valid_end`` to say so). Its ``es_id`` is the authority code, the start date (UTC) and a two-digit
    sequence, e.g. ``5101002025010101``; the file is ``seals/<code>-<es_id>.esl``. Existing
    seals are never overwritten.

    :param picture_png: the seal picture, a PNG file's bytes.
    :param width_mm: printed width. :param height_mm: printed height (millimetres).
    :param now: start of validity and making date, aware; defaults to the current time.
    :returns: the path of the new seal file.
    :raises ConfigurationError: if the authority code is unusable in a file name.
    :raises SealingError: if the picture is not a PNG, ``valid_days`` is not positive, the
        signer certificate has expired by ``now``, or
        :func:`~bdcert.gm.ses.make_seal` refuses (key not matching the maker certificate, …).
    :raises OSError: if the workspace cannot be written.
    """
    if not _SAFE.fullmatch(authority.code):
        raise ConfigurationError(f"authority code unusable as a file name: {authority.code!r}")
    if not picture_png.startswith(_PNG_MAGIC):
        raise SealingError("the seal picture must be a PNG file")
    if valid_days <= 0:
        raise SealingError(f"valid_days must be positive, got {valid_days}")
    start = _now(now).replace(microsecond=0)
    try:
        expiry = certificate_not_after(signer_cert_der)
    except ValueError as exc:
        raise SealingError(f"the signer certificate cannot be read: {exc}") from None
    if expiry <= start:
        raise SealingError(
            f"authority {authority.code}'s signing certificate expired at {expiry.isoformat()},"
            f" before the seal would start ({start.isoformat()}): give the authority a new"
            " certificate first"
        )
    end = min(start + timedelta(days=valid_days), expiry)
    directory = seals_dir(workspace_dir)
    directory.mkdir(parents=True, exist_ok=True)
    es_id = _new_es_id(directory, authority.code, start)
    der = make_seal(
        maker_key=maker_key,
        maker_cert_der=maker_cert_der,
        es_id=es_id,
        name=authority.name,
        signer_certs=[signer_cert_der],
        picture=SealPicture(type="PNG", data=picture_png, width_mm=width_mm, height_mm=height_mm),
        valid_start=start,
        valid_end=end,
        created=start,
    )
    path = directory / f"{authority.code}-{es_id}{SEAL_SUFFIX}"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(der)
    try:
        os.link(tmp, path)  # fails if the seal file exists: never overwrite a seal
    except FileExistsError as exc:
        raise SealingError(f"seal file {path} already exists") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _seal_files(workspace_dir: str | os.PathLike[str]) -> Iterator[Path]:
    directory = seals_dir(workspace_dir)
    if directory.is_dir():
        yield from sorted(p for p in directory.glob(f"*{SEAL_SUFFIX}") if p.is_file())


def _warning(
    record_seal: Seal, code: str, code_ok: bool, at: datetime, days_left: int
) -> str | None:
    label = f"seal {record_seal.es_id} of authority {code}"
    if not code_ok:
        return f"{label}: the file name does not end in the seal's es_id"
    end = record_seal.valid_end.astimezone(CHINA_TZ).date().isoformat()  # dates in China time
    if at > record_seal.valid_end:
        return f"{label} expired on {end}: replace it (rule article 9)"
    if at < record_seal.valid_start:
        start = record_seal.valid_start.astimezone(CHINA_TZ).date().isoformat()
        return f"{label} is not valid before {start}"
    if days_left < RENEWAL_WARNING_DAYS:
        return f"{label} expires in {days_left} days, on {end}: renew it (rule article 9)"
    return None


def _record(path: Path, at: datetime) -> SealRecord:
    try:
        seal = parse_seal(path.read_bytes())
    except SealFormatError as exc:
        raise SealFormatError(f"{path}: {exc}") from exc
    suffix = f"-{seal.es_id}"
    code_ok = path.stem.endswith(suffix) and len(path.stem) > len(suffix)
    code = path.stem[: -len(suffix)] if code_ok else path.stem.split("-", 1)[0]
    days_left = (seal.valid_end - at) // _DAY
    return SealRecord(
        path=path,
        authority_code=code,
        es_id=seal.es_id,
        name=seal.name,
        valid_start=seal.valid_start,
        valid_end=seal.valid_end,
        days_left=days_left,
        warning=_warning(seal, code, code_ok, at, days_left),
        seal=seal,
    )


def list_seals(
    workspace_dir: str | os.PathLike[str], *, at: datetime | None = None
) -> list[SealRecord]:
    """Every seal of the workspace, sorted by file name, each with a renewal warning if due.

    A seal warns when it has expired, has fewer than :data:`RENEWAL_WARNING_DAYS` (30) whole
    days left, is not yet valid, or its file name does not match its ``es_id`` (rule article 9:
    renew or replace e-seals in time). Seal signatures are not verified here
    (:func:`~bdcert.gm.ses.verify_seal` does that).

    :param at: the moment of the listing, aware; defaults to now.
    :raises SealFormatError: naming the file, if a seal file cannot be read as a seal.
    """
    moment = _now(at)
    return [_record(path, moment) for path in _seal_files(workspace_dir)]


def current_seal(workspace_dir: str | os.PathLike[str], authority_code: str, at: datetime) -> Seal:
    """The authority's seal to use at ``at``: among its seals valid at ``at``, the one whose
    validity ends last.

    Only the authority's own files (``<code>-*.esl``) are read.

    :param at: aware.
    :raises SealingError: naming the authority, if none of its seals is valid at ``at`` (or it
        has none).
    :raises SealFormatError: naming the file, if one of its seal files is unreadable.
    """
    moment = _now(at)
    records = [
        _record(path, moment)
        for path in _seal_files(workspace_dir)
        if path.name.startswith(f"{authority_code}-")
    ]
    valid = [r for r in records if r.authority_code == authority_code and r.seal.valid_at(moment)]
    if not valid:
        held = len([r for r in records if r.authority_code == authority_code])
        raise SealingError(
            f"authority {authority_code} has no seal valid at {moment.isoformat()} "
            f"({held} seal{'s' if held != 1 else ''} in {seals_dir(workspace_dir)}): make a new "
            "seal (rule article 9)"
        )
    return max(valid, key=lambda r: (r.valid_end, r.valid_start)).seal
