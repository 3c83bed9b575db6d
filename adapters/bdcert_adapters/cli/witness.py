"""``bdcert witness``: a city's mirror witnesses the province's audit checkpoints
(:mod:`bdcert.audit.witness`).

``bdcert witness --from https://province.example --token T`` reads the province's checkpoints
(``GET /api/v1/witness/checkpoints``), countersigns each one not yet witnessed with this
workspace's seal (the ``[audit] authority``, or ``--authority``), hands the countersignature in
(``POST /api/v1/witness/countersignatures``) and keeps a copy in ``WORKSPACE/witness/``: the copy
is what ``bdcert audit verify --witness FILE`` needs when the province deleted its own.

Exit codes: 0 every checkpoint is witnessed; 1 the province refused a countersignature or could
not be reached; 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import add_command, echo, error, load_workspace

__all__ = ["copy_name", "register", "witness_from"]


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers,
        "witness",
        "countersign the province's audit checkpoints with this workspace's seal",
    )
    c.add_argument("--from", dest="url", required=True, help="the province's service URL")
    c.add_argument("--token", required=True, help="this city's API token at the province")
    c.add_argument(
        "--authority", help="the witnessing authority (default: this workspace's [audit] one)"
    )
    c.set_defaults(func=cmd_witness)


def copy_name(number: int, witness: str) -> str:
    """The file name of the witness's copy of its countersignature of checkpoint ``number``."""
    return f"checkpoint-{number:06d}-{witness}.countersignature.pdf"


def witness_from(
    registry: Any,
    directory: Path,
    base_url: str,
    token: str,
    *,
    authority: str | None = None,
    client: Any = None,
) -> tuple[list[int], list[str]]:
    """Countersign every checkpoint of the province not yet witnessed, hand each in, keep copies.

    :param registry: this city's :class:`~bdcert.lifecycle.Registry` (its seal signs).
    :param client: an ``httpx.Client`` (tests pass the service's test client); default a new one.
    :returns: (checkpoint numbers witnessed now, one message per failure).
    :raises ConfigurationError: no such authority here.
    """
    import httpx

    from bdcert.audit.witness import countersign
    from bdcert.errors import ConfigurationError

    witness = (
        registry.authorities.get(authority)
        if authority is not None
        else registry.checkpointer.authority
    )
    if witness is None:
        raise ConfigurationError(f"no authority {authority or '(none)'} is configured here")
    directory.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {token}"}
    base = base_url.rstrip("/") + "/api/v1/witness"
    own = client is None
    http = client if client is not None else httpx.Client(timeout=60)
    done: list[int] = []
    failures: list[str] = []
    try:
        listed = http.get(f"{base}/checkpoints", headers=headers)
        if listed.status_code != 200:
            return [], [f"the province answered {listed.status_code}: {listed.text[:300]}"]
        for checkpoint in listed.json():
            number = int(checkpoint["number"])
            copy = directory / copy_name(number, witness.code)
            if copy.exists():
                continue
            pdf = countersign(
                checkpoint,
                witness=witness,
                seal_provider=registry.seal_provider,
                renderer=registry.renderer,
                now=registry.clock(),
            )
            answer = http.post(
                f"{base}/countersignatures",
                content=pdf,
                headers={**headers, "Content-Type": "application/pdf"},
            )
            if answer.status_code not in (200, 201):
                failures.append(
                    f"checkpoint #{number}: the province refused it ({answer.status_code}: "
                    f"{answer.text[:300]})"
                )
                continue
            copy.write_bytes(pdf)
            done.append(number)
    except httpx.HTTPError as exc:
        failures.append(f"could not reach the province: {exc}")
    finally:
        if own:
            http.close()
    return done, failures


def cmd_witness(args: argparse.Namespace) -> int:
    from bdcert.lifecycle import Registry

    ws = load_workspace(args)
    with Registry.open(ws) as registry:
        done, failures = witness_from(
            registry, ws.path / "witness", args.url, args.token, authority=args.authority
        )
    for message in failures:
        error(message)
    if done:
        echo(f"witnessed checkpoint(s) {', '.join(f'#{n}' for n in done)}; copies in witness/")
    elif not failures:
        echo("every checkpoint is witnessed already")
    return 1 if failures else 0
