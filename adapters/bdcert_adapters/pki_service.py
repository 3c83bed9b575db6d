"""The reference trust services of the demo PKI over HTTP: CRL, OCSP and RFC 3161 timestamps.

For tests, the demo and drills, never production (the demo root signs its own OCSP responses)::

    bdcert-pki-service --pki WORKSPACE/pki --port 8731      # python -m bdcert_adapters.pki_service

serves, under ``/pki`` (:data:`bdcert.demo_pki.DEMO_SERVICE_URL`, the URLs a demo PKI made with
``service_url`` writes into its certificates):

- ``GET /pki/crl``: the root's current CRL, DER, ``application/pkix-crl`` (RFC 5280 §4.2.1.13);
- ``POST /pki/ocsp``: an OCSP request (DER, ``application/ocsp-request``) answered with
  ``application/ocsp-response`` (RFC 6960 appendix A.1);
- ``POST /pki/tsa``: an RFC 3161 ``TimeStampReq`` (``application/timestamp-query``) answered
  with a ``TimeStampResp`` (``application/timestamp-reply``, RFC 3161 §3.4); a body that is not
  a request gets 400.

Bodies above 64 KiB are refused (413). The answers come from :class:`bdcert.demo_ca.DemoCa`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bdcert.demo_ca import DemoCa
from bdcert.errors import BdcertError, MissingDependency

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["MAX_BODY", "main", "make_pki_app"]

#: The largest request body accepted (bytes): OCSP and timestamp requests are a few hundred.
MAX_BODY = 64 * 1024

log = logging.getLogger("bdcert.pki_service")


def make_pki_app(directory: Path, prefix: str = "/pki") -> Starlette:
    """The services of the demo PKI in ``directory`` as an ASGI app (see the module docstring).

    The PKI is read at the first request, so the app can be bound (and its URL known) before
    the PKI that names that URL in its certificates is made.

    :raises MissingDependency: without the ``remote`` extra (Starlette).
    """
    try:
        from starlette.applications import Starlette
    except ImportError as e:
        raise MissingDependency(
            f"the PKI service needs {e.name}: pip install 'bdcert[remote]'"
        ) from None
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    state: dict[str, DemoCa] = {}

    def ca() -> DemoCa:
        if "ca" not in state:
            state["ca"] = DemoCa(Path(directory))
        return state["ca"]

    async def body(request: Request) -> bytes | None:
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BODY:
                return None
        return data

    async def crl(request: Request) -> Response:
        data = await run_in_threadpool(lambda: ca().crl())
        return Response(data, media_type="application/pkix-crl")

    async def ocsp(request: Request) -> Response:
        data = await body(request)
        if data is None:
            return PlainTextResponse("request too large", status_code=413)
        answer = await run_in_threadpool(ca().ocsp_response, data)
        return Response(answer, media_type="application/ocsp-response")

    async def tsa(request: Request) -> Response:
        data = await body(request)
        if data is None:
            return PlainTextResponse("request too large", status_code=413)
        try:
            answer = await run_in_threadpool(ca().timestamp_response, data)
        except ValueError:
            return PlainTextResponse("not an RFC 3161 TimeStampReq", status_code=400)
        return Response(answer, media_type="application/timestamp-reply")

    return Starlette(
        routes=[
            Route(f"{prefix}/crl", crl, methods=["GET"]),
            Route(f"{prefix}/ocsp", ocsp, methods=["POST"]),
            Route(f"{prefix}/tsa", tsa, methods=["POST"]),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the demo PKI's CRL, OCSP and TSA on loopback; exit 2 for a bad PKI directory."""
    p = argparse.ArgumentParser(
        prog="bdcert-pki-service",
        description="Serve a demo PKI's CRL (GET /pki/crl), OCSP (POST /pki/ocsp) and RFC 3161"
        " timestamps (POST /pki/tsa). Not for production.",
    )
    p.add_argument("--pki", type=Path, required=True, help="the demo PKI directory")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    p.add_argument("--port", type=int, default=8731, help="default 8731")
    args = p.parse_args(argv)
    try:
        DemoCa(args.pki)
        import uvicorn
    except (BdcertError, ImportError) as e:
        print(f"bdcert-pki-service: error: {e}", file=sys.stderr)
        return 2
    uvicorn.run(make_pki_app(args.pki), host=args.host, port=args.port, server_header=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
