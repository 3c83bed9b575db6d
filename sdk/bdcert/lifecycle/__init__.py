"""The certificate lifecycle (rule articles 2, 5, 6, 10): issue, supersede, cancel, restrict, verify.

:class:`Registry` (:mod:`bdcert.lifecycle.registry`) is the facade; the modules of this package
do the work, one concern each, on the registry's :class:`~bdcert.lifecycle.services.Services`.
"""

from __future__ import annotations

from bdcert.lifecycle.auditing import Finding
from bdcert.lifecycle.backlog import DrainReport
from bdcert.lifecycle.events import NOT_YET_DELIVERED
from bdcert.lifecycle.registry import Registry
from bdcert.lifecycle.services import FORMATS

__all__ = ["FORMATS", "NOT_YET_DELIVERED", "DrainReport", "Finding", "Registry"]
