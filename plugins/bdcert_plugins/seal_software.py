"""Seal provider ``software``: seal keys held in files (PEM or PKCS#12) on the server.

Workspace settings (the ``[seal]`` table; paths relative to the workspace directory)::

    [seal]
    plugin = "software"

    [seal.authorities.510100]            # PEM key and certificate, chain embedded in the seal
    key = "pki/510100.key.pem"
    cert = "pki/510100.cert.pem"
    chain = ["pki/root.cert.pem"]
    passphrase_env = "BDCERT_KEY_PASSPHRASE"   # optional, for an encrypted key

    [seal.authorities.510700]            # or a PKCS#12 bundle
    p12 = "pki/510700.p12"
    passphrase_env = "BDCERT_P12_PASSPHRASE"

Passphrases are read from the named environment variable when the key is first used; they are
never stored on the provider, logged or shown in its repr. Each authority's signer is loaded
once and reused. Suitable for development and small deployments; production keys belong in an
HSM or the provincial e-seal platform (rule article 3).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from bdcert.config import check_settings
from bdcert.errors import ConfigurationError, SealingError
from bdcert.hookspecs import hookimpl
from bdcert.protocols import SealProviderFactory
from bdcert.sealing import DigestSealProvider

if TYPE_CHECKING:
    from pyhanko.sign import signers

__all__ = ["AuthorityKey", "SoftwareSealProvider", "bdcert_register_seal_providers"]

_SETTINGS_KEYS = frozenset({"plugin", "authorities"})
_AUTHORITY_KEYS = frozenset({"key", "cert", "chain", "p12", "passphrase_env"})


@attrs.define(frozen=True)
class AuthorityKey:
    """Where one authority's seal key lives: ``key`` + ``cert`` (PEM/DER) or ``p12``."""

    code: str
    key: Path | None = None
    cert: Path | None = None
    p12: Path | None = None
    chain: tuple[Path, ...] = ()
    passphrase_env: str | None = None

    @classmethod
    def from_settings(cls, code: str, settings: Any, workspace: Path) -> AuthorityKey:
        """Parse one ``[seal.authorities.<code>]`` table. :raises ConfigurationError:"""
        where = f"[seal.authorities.{code}]"
        if not isinstance(settings, Mapping):
            raise ConfigurationError(f"{where} must be a table")
        check_settings(f"seal.authorities.{code}", settings, _AUTHORITY_KEYS)

        def path(name: str) -> Path | None:
            value = settings.get(name)
            if value is None:
                return None
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{where}: {name} must be a path")
            return workspace / value

        chain = settings.get("chain", [])
        if isinstance(chain, str):
            chain = [chain]
        if not isinstance(chain, list) or not all(isinstance(c, str) and c for c in chain):
            raise ConfigurationError(f"{where}: chain must be a list of paths")
        passphrase_env = settings.get("passphrase_env")
        if passphrase_env is not None and (
            not isinstance(passphrase_env, str) or not passphrase_env
        ):
            raise ConfigurationError(f"{where}: passphrase_env must name an environment variable")
        key, cert, p12 = path("key"), path("cert"), path("p12")
        if p12 is not None and (key is not None or cert is not None):
            raise ConfigurationError(f"{where}: give either p12 or key and cert, not both")
        if p12 is None and (key is None or cert is None):
            raise ConfigurationError(f"{where}: needs key and cert, or p12")
        return cls(
            code=code,
            key=key,
            cert=cert,
            p12=p12,
            chain=tuple(workspace / c for c in chain),
            passphrase_env=passphrase_env,
        )

    def _passphrase(self) -> bytes | None:
        if self.passphrase_env is None:
            return None
        value = os.environ.get(self.passphrase_env)
        if value is None:
            raise SealingError(
                f"the passphrase of authority {self.code}'s seal key is expected in the "
                f"environment variable {self.passphrase_env}, which is not set"
            )
        return value.encode("utf-8")

    def load(self) -> signers.SimpleSigner:
        """Load the signer. :raises SealingError: if the files or the passphrase are wrong."""
        # pyHanko is heavy: imported when a key is first used, not when the plugin loads
        from bdcert.sealing.pades import load_pkcs12_signer, load_software_signer

        if self.p12 is not None:
            return load_pkcs12_signer(self.p12, self._passphrase(), self.chain)
        assert self.key is not None and self.cert is not None
        return load_software_signer(self.key, self.cert, self.chain, self._passphrase())


class SoftwareSealProvider(DigestSealProvider):
    """A :class:`~bdcert.protocols.SealProvider` signing with key files (PEM or PKCS#12).

    Sealing, the per-authority cache and the validity check are
    :class:`~bdcert.sealing.DigestSealProvider`'s.
    """

    name = "software"

    def __init__(self, keys: Mapping[str, AuthorityKey]) -> None:
        super().__init__()
        self._keys = dict(keys)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], workspace: Path) -> SoftwareSealProvider:
        """Build from the workspace's ``[seal]`` table (see the module docstring).

        :raises ConfigurationError: naming unknown or malformed settings.
        """
        check_settings("seal", settings, _SETTINGS_KEYS)
        authorities = settings.get("authorities", {})
        if not isinstance(authorities, Mapping):
            raise ConfigurationError("[seal]: authorities must be a table of authority codes")
        workspace = Path(workspace)
        return cls(
            {
                str(code): AuthorityKey.from_settings(str(code), value, workspace)
                for code, value in authorities.items()
            }
        )

    def __repr__(self) -> str:
        return f"SoftwareSealProvider(authorities={sorted(self._keys)!r})"

    def load_signer(self, authority_code: str) -> signers.Signer:
        """Load the authority's key files (once; the base caches the signer).

        :raises SealingError: for an authority without a configured key or an unusable key.
        """
        key = self._keys.get(authority_code)
        if key is None:
            known = ", ".join(sorted(self._keys)) or "none configured"
            raise SealingError(
                f"the software seal provider has no seal key for authority {authority_code!r}"
                f" (configured: {known})"
            )
        return key.load()


@hookimpl
def bdcert_register_seal_providers(register: Callable[[str, SealProviderFactory], None]) -> None:
    """Register the ``software`` seal provider."""
    register("software", SoftwareSealProvider.from_settings)
