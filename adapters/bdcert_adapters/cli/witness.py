"""``bdcert witness``: a city's mirror witnesses the province's audit checkpoints
(:mod:`bdcert.audit.witness`).

``bdcert witness --from https://province.example [--token T | --cert PEM [--key PEM]]
[--ca PEM]`` (the token also from ``$BDCERT_PROVINCE_TOKEN``, as for ``bdcert city sync``) reads the province's checkpoints
(``GET /api/v1/witness/checkpoints``), countersigns each one not yet witnessed with this
workspace's seal (the ``[audit] authority``, or ``--authority``), hands the countersignature in
(``POST /api/v1/witness/countersignatures``) and keeps a copy in ``WORKSPACE/witness/``: the copy
is what ``bdcert audit verify --witness FILE`` needs when the province deleted its own.

Exit codes: 0 every checkpoint is witnessed; 1 the province refused a countersignature or could
not be reached; 2 bad usage or configuration.

The province accepts a countersignature only when the city's root certificate is among its
``[bdcert] trust_roots`` (added there, then ``bdcert serve`` restarted); a refusal is printed
with the problem's title, detail and each bad field, one per line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.city import province_credentials, province_options
from bdcert_adapters.cli.common import add_command, echo, error, load_workspace

__all__ = ["copy_name", "register", "witness_from"]


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers,
        "witness",
        "countersign the province's audit checkpoints with this workspace's seal",
    )
    province_options(
        c, authority_help="the witnessing authority (default: this workspace's [audit] one)"
    )
    c.set_defaults(func=cmd_witness)


def copy_name(number: int, witness: str) -> str:
    """The file name of the witness's copy of its countersignature of checkpoint ``number``."""
    return f"checkpoint-{number:06d}-{witness}.countersignature.pdf"


def witness_from(
    registry: Any,
    directory: Path,
    base_url: str,
    token: str | None,
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
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = base_url.rstrip("/") + "/api/v1/witness"
    own = client is None
    http = client if client is not None else httpx.Client(timeout=60)
    done: list[int] = []
    failures: list[str] = []
    try:
        listed = http.get(f"{base}/checkpoints", headers=headers)
        if listed.status_code != 200:
            return [], [f"the province answered {_refusal(listed)}"]
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
                    f"checkpoint #{number}: the province refused it: {_refusal(answer)}"
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


def _refusal(response: Any) -> str:
    """A problem document in full: status, title and detail, then each bad field on a line."""
    from bdcert_adapters.client import problem_of

    problem = problem_of(response)
    lines = [f"{problem.status} {problem.title}: {problem.detail}".rstrip(": ")]
    lines += [f"  {e.field}: {e.message}" for e in problem.errors]
    return "\n".join(lines)


def cmd_witness(args: argparse.Namespace) -> int:
    import httpx

    from bdcert.lifecycle import Registry

    token, cert = province_credentials(args)
    ws = load_workspace(args)
    with (
        Registry.open(ws) as registry,
        httpx.Client(cert=cert, verify=args.ca or True, timeout=args.timeout) as client,
    ):
        done, failures = witness_from(
            registry,
            ws.path / "witness",
            args.from_url,
            token,
            authority=args.authority,
            client=client,
        )
    for message in failures:  # a refusal's field errors on lines of their own
        first, *rest = message.split("\n")
        error(first)
        for line in rest:
            echo(line, stderr=True)
    if done:
        echo(f"witnessed checkpoint(s) {', '.join(f'#{n}' for n in done)}; copies in witness/")
    elif not failures:
        echo("every checkpoint is witnessed already")
    return 1 if failures else 0
