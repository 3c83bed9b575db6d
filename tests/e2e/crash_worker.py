"""A worker process for tests/e2e/test_crash.py, which kills it with SIGKILL part-way through.

``python tests/e2e/crash_worker.py push WORKSPACE ENTRIES.jsonl [--seal-down]``: push each entry,
printing ``ywh outcome`` per line as soon as it is done. ``--seal-down``: the seal provider
fails (an outage), so entries go to the backlog.

``python tests/e2e/crash_worker.py drain WORKSPACE``: drain the backlog (ignoring the backoff).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bdcert.errors import SealingError
from bdcert.lifecycle import Registry


class _Down:
    name = "down"

    def seal_pdf(self, pdf: bytes, request: Any) -> bytes:
        raise SealingError("the seal service is down (injected)")

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        raise SealingError("the seal service is down (injected)")


def main(argv: list[str]) -> None:
    action, workspace, *rest = argv
    with Registry.open(workspace) as registry:
        platform = registry.authenticate({"operator": "platform"})
        if action == "drain":
            registry.drain_backlog(principal=platform, force=True)
            return
        if "--seal-down" in rest:
            registry.seal_provider = _Down()  # type: ignore[assignment]
        with open(rest[0], encoding="utf-8") as fh:
            for line in fh:
                result = registry.push(json.loads(line), principal=platform)
                print(result.business_number, result.outcome.value, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
