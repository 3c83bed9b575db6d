"""The kit's three plans. Each is a module with:

- ``NAME``: ``documents``, ``interface`` or ``plugins``;
- its checks, registered with :func:`bdcert_conformance.kit.check` when the module is imported;
- ``problems(options) -> list[str]``: every missing or bad option, named (empty: can run);
- ``open_context(options, workdir) -> contextmanager[context]``: reads the inputs / connects to
  the system once; every check receives the context;
- ``reference_environment(stack, workdir) -> environment``: the correct reference
  implementation, built for the self-test (closed by ``stack``);
- ``reference_run(environment, workdir) -> RunOptions | (RunOptions, context)``: what to run the
  plan against so that every check passes;
- ``BROKEN``: the plan's :class:`~bdcert_conformance.kit.BrokenImplementation` list.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from bdcert_conformance.kit.model import PLAN_NAMES, KitUsageError

__all__ = ["load_plan"]


def load_plan(name: str) -> ModuleType:
    """The plan module ``name`` (its checks registered).

    :raises KitUsageError: no such plan.
    """
    if name not in PLAN_NAMES:
        raise KitUsageError(f"--plan {name!r}: not one of {', '.join(PLAN_NAMES)}")
    return importlib.import_module(f"bdcert_conformance.plans.{name}")
