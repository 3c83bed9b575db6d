"""The plugins plan's reference environment: a bdcert demo workspace (``bdcert init --demo``,
bundled example authorities, demo PKI) reconfigured to use bdcert's reference plugins — ``sql``
storage (SQLite in the workspace), the ``software`` seal provider, the ``tokens`` identity
provider with a token per role and authority, and a ``webhook`` notifier (whose ``url`` and
secret the kit replaces by its own receiver's and its own). Needs nothing outside the package.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bdcert_conformance.plans.plugins import ReferenceEnvironment

__all__ = ["make_reference_workspace"]

#: [notifiers.webhook] of the reference workspace: retried 3 times, 50 ms apart at first.
WEBHOOK_TABLE = """
[notifiers.webhook]
url = "http://127.0.0.1:9/not-used-the-kit-points-it-at-its-receiver"
secret_env = "BDCERT_REFERENCE_WEBHOOK_SECRET"
timeout = 5
retries = 3
backoff = 0.05
"""


def make_reference_workspace(directory: Path) -> ReferenceEnvironment:
    """Create the reference workspace in ``directory/workspace``; return the
    :class:`~bdcert_conformance.plans.plugins.ReferenceEnvironment`.

    :raises RuntimeError: if ``bdcert init --demo`` fails.
    """
    from bdcert.config import CONFIG_NAME, load_authorities
    from bdcert_adapters.cli import main
    from bdcert_conformance.plans.plugins import ReferenceEnvironment
    from bdcert_plugins.identity_tokens import hash_token, new_token

    workspace = Path(directory) / "workspace"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["init", "--demo", "--workspace", str(workspace)])
    if code != 0:
        raise RuntimeError(f"bdcert init --demo failed ({code}): {out.getvalue()}")
    config = workspace / CONFIG_NAME
    text = config.read_text(encoding="utf-8")
    text = text.replace('[identity]\nplugin = "local"', '[identity]\nplugin = "tokens"', 1)
    text = text.replace(
        '[notifiers]\nplugins = ["log"]', '[notifiers]\nplugins = ["log", "webhook"]', 1
    )
    if 'plugin = "tokens"' not in text or '"webhook"' not in text:
        raise RuntimeError(f"{config}: the demo workspace's [identity] or [notifiers] moved")
    entries: list[tuple[str, list[str], str | None, str | None]] = [
        ("province-platform", ["platform"], None, None),
        ("province-auditor", ["auditor"], None, None),
        ("holder-wang-app", ["holder"], None, "510104198503120176"),
        ("bank-gateway", ["sharing_party"], None, None),
    ]
    for code in load_authorities(workspace / "authorities.json"):
        entries.append((f"city-system-{code}", ["registrar"], code, None))
    tokens: dict[str, str] = {}
    tables = []
    for name, roles, authority, id_number in entries:
        token = new_token()
        tokens[name] = token
        lines = [
            f'[identity.tokens."{name}"]',
            f'sha256 = "{hash_token(token)}"',
            f"roles = [{', '.join(repr(r).replace(chr(39), chr(34)) for r in roles)}]",
        ]
        if authority:
            lines.append(f'authority = "{authority}"')
        if id_number:
            lines.append(f'id_number = "{id_number}"')
        tables.append("\n".join(lines))
    text = text.rstrip("\n") + "\n" + WEBHOOK_TABLE + "\n" + "\n\n".join(tables) + "\n"
    config.write_text(text, encoding="utf-8")
    return ReferenceEnvironment(workspace=workspace, tokens=tokens)
