"""ACME e-seals for bdcert: a seal provider whose keys live outside bdcert.

Workspace settings (``bdcert.toml``)::

    [seal]
    plugin = "acme"
    key_dir = "pki"        # stand-in for the HSM: <code>.key.pem, <code>.cert.pem, root.cert.pem
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from bdcert import ConfigurationError, DigestSealProvider, SealingError, hookimpl
from bdcert.config import check_settings

HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


class SoftwareKeyStandIn:
    """STAND-IN FOR YOUR HSM OR E-SEAL PLATFORM: private keys in PEM files.

    Replace this class by your platform's client. bdcert only ever asks it for an authority's
    certificates and for a signature of a digest; the key never has to leave the platform.
    """

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir

    def certificates(self, authority_code: str) -> list[bytes]:
        seal_cert = self.key_dir / f"{authority_code}.cert.pem"
        if not seal_cert.is_file():
            raise SealingError(
                f"acme: no seal certificate for authority {authority_code} ({seal_cert})"
            )
        return [seal_cert.read_bytes(), (self.key_dir / "root.cert.pem").read_bytes()]

    def sign(self, authority_code: str, digest: bytes, algorithm: str) -> bytes:
        key_file = self.key_dir / f"{authority_code}.key.pem"
        if not key_file.is_file():
            raise SealingError(f"acme: no seal key for authority {authority_code} ({key_file})")
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if algorithm not in HASHES:
            raise SealingError(f"acme: cannot sign a {algorithm} digest")
        prehashed = Prehashed(HASHES[algorithm])
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(digest, ec.ECDSA(prehashed))  # DER ECDSA-Sig-Value
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(digest, padding.PKCS1v15(), prehashed)
        raise SealingError(f"acme: the key of authority {authority_code} is not EC or RSA")


class AcmeSealProvider(DigestSealProvider):
    """Two methods; bdcert's base class makes the visible, locked, time-stamped PAdES seal."""

    name = "acme"

    def __init__(self, platform: SoftwareKeyStandIn) -> None:
        super().__init__()
        self.platform = platform

    def certificate_chain(self, authority_code: str) -> Sequence[bytes]:
        return self.platform.certificates(authority_code)

    def sign_digest(self, authority_code: str, digest: bytes, digest_algorithm: str) -> bytes:
        return self.platform.sign(authority_code, digest, digest_algorithm)


def make_provider(settings: Mapping[str, Any], workspace: Path) -> AcmeSealProvider:
    """The factory bdcert calls with the ``[seal]`` table (``plugin`` removed)."""
    check_settings("seal", settings, {"key_dir"})  # names every unknown key, bdcert's way
    key_dir = Path(workspace) / settings.get("key_dir", "pki")
    if not key_dir.is_dir():  # a setup mistake: say so now, not at the first seal
        raise ConfigurationError(f"[seal] key_dir: {key_dir} is not a directory")
    return AcmeSealProvider(SoftwareKeyStandIn(key_dir))


@hookimpl
def bdcert_register_seal_providers(register: Callable[[str, Any], None]) -> None:
    register("acme", make_provider)
