"""The bdcert conformance kit: contract tests any plugin or city system can run against itself.

Subclass a contract in your own test suite and provide its fixtures::

    from bdcert_conformance import SealProviderContract, StorageContract

    class TestMyStorage(StorageContract):
        @pytest.fixture
        def storage(self, tmp_path):
            s = MyStorage(...)
            yield s
            s.close()

    class TestMySeals(SealProviderContract):
        @pytest.fixture
        def seal_provider(self):
            return MySealProvider(...)

        @pytest.fixture
        def authority(self):            # a bdcert.Authority the provider has a seal key for
            return Workspace.load("ws").authorities()["510100"]

        @pytest.fixture
        def trust_roots_pem(self):      # root certificates its seals chain to (PEM or DER)
            return [Path("ws/pki/root.cert.pem").read_bytes()]

Contracts:

- :class:`~bdcert_conformance.storage.StorageContract` (the ``Storage`` protocol: atomic units
  of work, gap-free numbering, status, restrictions, paper dispositions, the hash-chained audit
  log);
- :class:`~bdcert_conformance.seal.SealProviderContract` (the ``SealProvider`` protocol, on a
  real rendered certificate: one signature covering the whole file, the seal visible at the
  requested box, the DocMDP lock, the requested signing time, a signer chaining to the trust
  roots, bdcert's own check saying VALID, ``signer_certificate_pem``, and a ``SealingError`` for
  an authority without a key). Its checks are also plain functions in
  :mod:`bdcert_conformance.seal` (``check_*``) for PDFs sealed any other way.

docs/tutorial-seal-provider.md runs the seal contract on a provider from an empty directory.
"""

__all__ = ["SealProviderContract", "StorageContract"]

from bdcert_conformance.seal import SealProviderContract
from bdcert_conformance.storage import StorageContract
