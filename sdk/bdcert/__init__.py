"""bdcert: real-estate registration e-certificates (不动产登记电子证照) and their e-seals.

The one package an embedding vendor imports. ``Registry`` (lazy: it pulls in rendering and
sealing) runs the lifecycle; the value types and errors are re-exported here.

The plugin surface is here too, loaded on first use so that ``import bdcert`` stays light:
``hookimpl`` (mark hook implementations), ``make_plugin_manager``, the protocols a plugin's
objects implement (``SealProvider``, ``Storage``, ``StorageTransaction``, ``IdentityProvider``,
``Notifier``), the optional seal-provider capabilities (``OfdSealer``, ``Closable``,
``DigestSigner``, ``SignerSource``), ``SealRequest``, and ``DigestSealProvider``, the base class
of a seal provider whose key lives elsewhere.
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
    from bdcert.hookspecs import hookimpl
    from bdcert.lifecycle import Registry
    from bdcert.plugins import make_plugin_manager
    from bdcert.protocols import (
        Closable,
        DigestSigner,
        IdentityProvider,
        Notifier,
        OfdSealer,
        SealProvider,
        SealRequest,
        SignerSource,
        Storage,
        StorageTransaction,
    )
    from bdcert.sealing import DigestSealProvider

__all__ = [
    "NATIONAL_2024",
    "Authority",
    "BdcertError",
    "Certificate",
    "CertificateKind",
    "CertificateStatus",
    "Closable",
    "CodeTables",
    "ConfigurationError",
    "DigestSealProvider",
    "DigestSigner",
    "IdempotencyConflict",
    "IdentityError",
    "IdentityProvider",
    "IssueResult",
    "MissingGlyph",
    "NotFound",
    "Notifier",
    "OfdSealer",
    "Outcome",
    "PermissionDenied",
    "Principal",
    "Problem",
    "RegistrationEntry",
    "Registry",
    "RenderError",
    "SealProvider",
    "SealRequest",
    "SealServiceUnavailable",
    "SealingError",
    "SignerSource",
    "Storage",
    "StorageError",
    "StorageTransaction",
    "ValidationError",
    "Verdict",
    "VerdictCode",
    "__version__",
    "hookimpl",
    "make_plugin_manager",
]

#: Names loaded on first use (their modules pull in pluggy, or pyHanko on the first seal).
_LAZY = {
    "Closable": "bdcert.protocols",
    "DigestSealProvider": "bdcert.sealing",
    "DigestSigner": "bdcert.protocols",
    "IdentityProvider": "bdcert.protocols",
    "Notifier": "bdcert.protocols",
    "OfdSealer": "bdcert.protocols",
    "Registry": "bdcert.lifecycle",
    "SealProvider": "bdcert.protocols",
    "SealRequest": "bdcert.protocols",
    "SignerSource": "bdcert.protocols",
    "Storage": "bdcert.protocols",
    "StorageTransaction": "bdcert.protocols",
    "hookimpl": "bdcert.hookspecs",
    "make_plugin_manager": "bdcert.plugins",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        from importlib import import_module

        value = getattr(import_module(module), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("bdcert")
        except PackageNotFoundError:  # running from a source tree
            from bdcert._version import __version__

            return __version__
    raise AttributeError(f"module 'bdcert' has no attribute {name!r}")
