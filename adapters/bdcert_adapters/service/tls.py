"""TLS client certificates for the app: uvicorn's HTTP protocol with the ASGI TLS extension.

uvicorn verifies a client certificate during the handshake (``--client-ca``, ``CERT_OPTIONAL``)
but does not tell the application which certificate it was. :class:`TLSH11Protocol` is uvicorn's
h11 protocol that adds the ASGI TLS extension (https://asgi.readthedocs.io/en/latest/extensions.html#tls)
to every request's scope on a TLS connection::

    scope["extensions"]["tls"] = {
        "server_cert": None,
        "client_cert_chain": ["-----BEGIN CERTIFICATE-----…"],   # the client's, PEM; [] for none
        "client_cert_name": "CN=…,O=…",                          # RFC 4514, or None
        "client_cert_error": None,
        "tls_version": 0x0304,                                     # TLS 1.3
        "cipher_suite": None,
    }

The certificate is the one the TLS layer *verified* against ``--client-ca`` (an unverifiable
certificate fails the handshake), taken from the connection's ``ssl_object`` — never from a
header a client could send. Only the client's own certificate is listed: Python's ``ssl`` module
(before 3.13) does not expose the rest of the verified chain. :mod:`~bdcert_adapters.service.auth`
hands it to the identity plugin, which maps it to a principal
(``[identity.client_certificates.*]``).

``bdcert serve`` passes :data:`HTTP_PROTOCOL` as uvicorn's ``http=``; a string, so spawned
workers import it.
"""

from __future__ import annotations

import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HTTP_PROTOCOL", "TLSH11Protocol", "tls_extension"]

#: uvicorn's ``http=`` for ``bdcert serve``.
HTTP_PROTOCOL = "bdcert_adapters.service.tls:TLSH11Protocol"

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, Any]:
    """The ASGI TLS extension of a TLS connection (see the module docstring)."""
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = None
    if der:
        from cryptography import x509

        name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None if cipher is None else cipher[0],
    }


class TLSH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, adding the ASGI TLS extension to the scope of every request
    received over TLS (the extension is computed once per connection, after the handshake)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tls: dict[str, Any] | None = None
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if self._tls is not None:
                extensions = dict(scope.get("extensions") or {})
                extensions["tls"] = self._tls
                scope["extensions"] = extensions
            await inner(scope, receive, send)

        self.app = app

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._tls = tls_extension(ssl_object)
