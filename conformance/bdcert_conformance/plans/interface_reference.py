"""The interface plan's reference environment: two ``bdcert serve`` processes on loopback, a
city (the target) and the province, each with its own SQLite register, made from one demo
workspace (bdcert's bundled authorities, so the city's seals chain to the province's trust
list), with API tokens for the plan's roles.

Roles: ``clerk`` — a registrar of 510100 (成都) on the city; ``other_clerk`` — a registrar of
510700 (绵阳) on the city; ``province`` — a registrar of 510100 on the province (it may deposit
510100's certificates). A platform token of the city is kept for the broken implementation that
lets a clerk act on another authority.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import attrs

from bdcert_conformance.kit.model import RunOptions
from bdcert_conformance.processes import add_token as _token
from bdcert_conformance.processes import bdcert_cli as _cli
from bdcert_conformance.processes import serve

__all__ = ["ReferenceEnvironment", "reference_environment", "reference_run", "serve"]

#: The reference city's authority.
AUTHORITY = "510100"


@attrs.frozen
class ReferenceEnvironment:
    """The running reference: the city's and the province's base URLs, the tokens by role,
    the authority, and the directory holding both workspaces."""

    city: str
    province: str
    tokens: dict[str, str]
    authority: str
    directory: Path
    platform_token: str = ""


def reference_environment(stack: contextlib.ExitStack, workdir: Path) -> ReferenceEnvironment:
    """Make the two workspaces under ``workdir`` and start both services (stopped by
    ``stack``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    city, province = workdir / "city", workdir / "province"
    _cli("init", "--demo", "--force", "--workspace", str(city))
    config = city / "bdcert.toml"  # the self-test runs 信息验证 more often than [lookup] allows
    config.write_text(config.read_text("utf-8") + "\n[lookup]\nmax_lookups = 100000\n", "utf-8")
    if province.exists():
        shutil.rmtree(province)
    shutil.copytree(city, province, ignore=shutil.ignore_patterns("bdcert.sqlite3*"))
    tokens = {
        "clerk": _token(city, f"clerk-{AUTHORITY}", "registrar", AUTHORITY),
        "other_clerk": _token(city, "clerk-510700", "registrar", "510700"),
        "province": _token(province, f"city-{AUTHORITY}", "registrar", AUTHORITY),
    }
    platform = _token(city, "platform-kit", "platform")
    city_url = stack.enter_context(serve(city))
    province_url = stack.enter_context(serve(province))
    return ReferenceEnvironment(city_url, province_url, tokens, AUTHORITY, workdir, platform)


def reference_run(env: ReferenceEnvironment, workdir: Path) -> RunOptions:
    """The options of a run against the reference (every check passes)."""
    return RunOptions(
        plan="interface",
        target=env.city,
        province=env.province,
        tokens=dict(env.tokens),
        settings={"authority": env.authority},
        system="bdcert reference city",
    )
