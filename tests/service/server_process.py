"""``bdcert serve`` as a real process on loopback, for the TLS, worker and load tests: the
kit's own (:mod:`bdcert_conformance.processes`), which its reference systems start the same
way."""

from __future__ import annotations

from bdcert_conformance.processes import free_port, serve

__all__ = ["free_port", "serve"]
