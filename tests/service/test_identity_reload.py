"""A running service picks up ``bdcert tokens add`` and ``bdcert tokens revoke`` (they rewrite
``bdcert.toml``) at the next request, without a restart (service/auth.py refresh_identity)."""

from __future__ import annotations

from pathlib import Path

from tests.service.conftest import copy_served
from tests.support import run_cli


def test_revoked_and_added_tokens_apply_without_a_restart(
    served_template: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    from litestar.testing import TestClient

    from bdcert.lifecycle import Registry
    from bdcert_adapters.service import ServiceSettings, create_app

    ws, tokens = copy_served(served_template, tmp_path / "ws")
    app = create_app(lambda: Registry.open(ws), ServiceSettings())

    def whoami(token: str) -> int:
        r = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    with TestClient(app) as client:
        assert whoami(tokens["auditor"]) == 200
        revoked = run_cli(ws, "tokens", "revoke", "auditor")
        assert revoked.returncode == 0, revoked.stderr
        assert whoami(tokens["auditor"]) == 401  # the next request, same worker
        assert whoami(tokens["platform"]) == 200  # the others still work
        added = run_cli(ws, "tokens", "add", "auditor-2", "--role", "auditor")
        assert added.returncode == 0, added.stderr
        new = added.stdout.strip()
        assert whoami(new) == 200
        assert (
            client.get(
                "/api/v1/audit/events", headers={"Authorization": f"Bearer {new}"}
            ).status_code
            == 200
        )
