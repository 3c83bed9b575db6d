"""Prometheus metrics of the service, exposed at ``GET /metrics`` (text exposition format 0.0.4).

=========================================== ==========================================================
``bdcert_certificates_issued_total``        certificates issued, labels ``authority`` (登记机构 code),
                                            ``kind`` (``property_certificate`` /
                                            ``registration_proof``); counted from the
                                            ``bdcert_certificate_event`` hook, so every route that
                                            issues counts (push, batch, backlog drain)
``bdcert_backlogged_total``                 pushes answered ``backlogged`` (rule article 15: sealing
                                            unavailable, the entry waits), label ``authority``
``bdcert_verify_verdicts_total``            verification verdicts, label ``code`` (the verdict's
                                            code); the verification routes call
                                            :func:`record_verdict`
``bdcert_rate_limited_total``               requests refused with 429 by the rate limit
``bdcert_http_request_duration_seconds``    histogram of request durations, labels ``method``,
                                            ``path`` (the route template, e.g.
                                            ``/api/v1/certificates/{number}``), ``status_code``,
                                            ``worker`` (the process id);
                                            with ``bdcert_http_requests_total`` and
                                            ``bdcert_http_requests_in_progress`` (Litestar's
                                            Prometheus plugin)
=========================================== ==========================================================

With several worker processes, ``bdcert serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh
directory before the workers start: each worker writes its values there and ``/metrics``, in
whichever worker answers, adds them up (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)

from bdcert.hookspecs import hookimpl
from bdcert.model import CertificateEvent, Principal
from bdcert_adapters.service.limits import rate_limit_guard
from bdcert_adapters.service.problems import problem

__all__ = [
    "BACKLOGGED",
    "ISSUED",
    "RATE_LIMITED",
    "VERDICTS",
    "install",
    "metrics_endpoint",
    "prometheus_config",
    "record_backlogged",
    "record_rate_limited",
    "record_verdict",
]

ISSUED = Counter(
    "bdcert_certificates_issued",
    "Certificates issued (rule articles 5, 6), by authority and kind",
    ["authority", "kind"],
)
BACKLOGGED = Counter(
    "bdcert_backlogged",
    "Pushes answered 'backlogged': sealing unavailable, the entry waits (rule article 15)",
    ["authority"],
)
VERDICTS = Counter(
    "bdcert_verify_verdicts",
    "Verification verdicts of uploaded or looked-up certificates, by verdict code",
    ["code"],
)
RATE_LIMITED = Counter(
    "bdcert_rate_limited",
    "Requests refused with 429 by the per-client rate limit",
)


def record_verdict(code: str) -> None:
    """Count one verification verdict (``bdcert_verify_verdicts_total{code=…}``)."""
    VERDICTS.labels(code=str(code)).inc()


def record_backlogged(authority: str) -> None:
    """Count one push answered ``backlogged``."""
    BACKLOGGED.labels(authority=str(authority)).inc()


def record_rate_limited() -> None:
    """Count one request refused by the rate limit."""
    RATE_LIMITED.inc()


class CertificateEventCounter:
    """A pluggy plugin counting ``issued`` certificate events (registered on the worker's
    registry by :func:`install`)."""

    @hookimpl
    def bdcert_certificate_event(self, event: CertificateEvent) -> None:
        if event.kind == "issued":
            kind = str(event.details.get("kind", "unknown"))
            ISSUED.labels(authority=event.authority_code, kind=kind).inc()


_PLUGIN_NAME = "bdcert-service-metrics"


def install(registry: Any) -> None:
    """Count what ``registry`` issues and backlogs: registers :class:`CertificateEventCounter`
    on its plugin manager and wraps its ``push`` to count ``backlogged`` outcomes (called by
    :func:`~bdcert_adapters.service.create_app` when a worker opens its registry)."""
    pm = registry.hooks.pm
    if not pm.has_plugin(_PLUGIN_NAME):
        pm.register(CertificateEventCounter(), name=_PLUGIN_NAME)
    push = registry.push

    def counted_push(raw: Any, *, principal: Any) -> Any:
        result = push(raw, principal=principal)
        if getattr(result.outcome, "value", result.outcome) == "backlogged":
            authority = raw.get("djjg") if isinstance(raw, dict) else None
            record_backlogged(str(authority or "unknown"))
        return result

    registry.push = counted_push


def prometheus_config() -> PrometheusConfig:
    """Litestar's Prometheus middleware: ``bdcert_http_request_duration_seconds`` and friends,
    labelled by route template (not the raw path, whose numbers would explode cardinality) and
    by ``worker``, the serving process's id (how the load spreads over ``--workers``). Made in
    the worker, when it creates its app."""
    return PrometheusConfig(
        app_name="bdcert",
        prefix="bdcert_http",
        labels={"worker": str(os.getpid())},
        group_path=True,
        exclude_unhandled_paths=True,
    )


def exposition() -> bytes:
    """The metrics in the text format; the sum over workers in multiprocess mode."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


@get(
    "/metrics",
    summary="Prometheus metrics",
    tags=["health"],
    include_in_schema=False,
    sync_to_thread=False,
    guards=[rate_limit_guard],
)
def metrics_endpoint(principal: NamedDependency[Principal]) -> Response[bytes]:
    """The service's metrics, Prometheus text format (see :mod:`bdcert_adapters.service.metrics`).

    Only for the platform and auditors (a bearer token or client certificate; Prometheus
    scrapes with ``authorization: credentials_file``): the counters are per authority business
    figures. 401 without credentials, 403 for other roles, 429 beyond the rate limit.
    """
    from bdcert.access import ACTIONS

    if not principal.roles & ACTIONS["audit"]:
        raise problem(403, "forbidden", "not allowed", "metrics are for the platform and auditors")
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
