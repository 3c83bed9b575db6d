"""bdcert: real-estate registration e-certificates (不动产登记电子证照) and their e-seals.

The one package an embedding vendor imports. ``Registry`` (lazy: it pulls in rendering and
sealing) runs the lifecycle; the value types and errors are re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bdcert.codes import NATIONAL_2024, CodeTables
from bdcert.errors import (
    BdcertError,
    ConfigurationError,
    IdempotencyConflict,
    IdentityError,
    MissingGlyph,
    NotFound,
    PermissionDenied,
    Problem,
    RenderError,
    SealingError,
    SealServiceUnavailable,
    StorageError,
    ValidationError,
)
from bdcert.model import (
    Authority,
    Certificate,
    CertificateKind,
    CertificateStatus,
    IssueResult,
    Outcome,
    Principal,
    RegistrationEntry,
    Verdict,
    VerdictCode,
)

if TYPE_CHECKING:
    from bdcert.lifecycle import Registry

__all__ = [
    "NATIONAL_2024",
    "Authority",
    "BdcertError",
    "Certificate",
    "CertificateKind",
    "CertificateStatus",
    "CodeTables",
    "ConfigurationError",
    "IdempotencyConflict",
    "IdentityError",
    "IssueResult",
    "MissingGlyph",
    "NotFound",
    "Outcome",
    "PermissionDenied",
    "Principal",
    "Problem",
    "RegistrationEntry",
    "Registry",
    "RenderError",
    "SealServiceUnavailable",
    "SealingError",
    "StorageError",
    "ValidationError",
    "Verdict",
    "VerdictCode",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "Registry":
        from bdcert.lifecycle import Registry

        return Registry
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("bdcert")
        except PackageNotFoundError:  # running from a source tree
            from bdcert._version import __version__

            return __version__
    raise AttributeError(f"module 'bdcert' has no attribute {name!r}")
