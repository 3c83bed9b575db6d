"""Deliberately broken reference implementations, one module per plan: each has exactly one
defect, and the check its :class:`~bdcert_conformance.kit.BrokenImplementation` names must
report FAILED on it (``bdcert conformance selftest``)."""
