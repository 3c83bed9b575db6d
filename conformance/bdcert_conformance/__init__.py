"""The bdcert conformance kit: contract tests any plugin or city system can run against itself.

Subclass a contract in your own test suite and provide its fixture::

    from bdcert_conformance.storage import StorageContract

    class TestMyStorage(StorageContract):
        @pytest.fixture
        def storage(self, tmp_path):
            s = MyStorage(...)
            yield s
            s.close()

Contracts: :class:`~bdcert_conformance.storage.StorageContract` (the ``Storage`` protocol:
atomic units of work, gap-free numbering, status, restrictions, paper dispositions, the
hash-chained audit log).
"""

__all__ = ["StorageContract"]

from bdcert_conformance.storage import StorageContract
