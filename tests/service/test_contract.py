"""Contract tests: every operation of ``/api/v1/openapi.json``, called with data schemathesis
generates from that document — valid and invalid (negative) — as the platform and anonymously.

No response may be a 5xx, every response must conform to the document (a documented status,
its content type, its schema: errors are problem documents), and data that breaks the schema
must be refused with a 4xx. The test is generic over
the document, so operations added later are covered as they land. Bounded: 20 examples per
operation and mode, no shrinking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="install bdcert[test] (schemathesis)")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import copy_served  # noqa: E402

_WORKSPACE: dict[str, Any] = {}


JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


@schemathesis.serializer(*JSON_LINES)
def _json_lines(ctx: Any, value: Any) -> bytes:
    """A JSON Lines body (a batch of entries): one JSON value per line."""
    items = value if isinstance(value, list) else [value]
    lines = (json.dumps(item, ensure_ascii=False, default=str) + "\n" for item in items)
    return "".join(lines).encode("utf-8")


@schemathesis.serializer("application/pdf", "application/ofd")
def _document(ctx: Any, value: Any) -> bytes:
    """A document body as generated (binary or text), sent as it is: verification must answer
    any bytes with a report or a problem, never a 5xx."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return value.encode("utf-8") if isinstance(value, str) else json.dumps(value).encode()


def _open_registry() -> Any:
    from bdcert.lifecycle import Registry

    return Registry.open(_WORKSPACE["workspace"])


def _app() -> Any:
    """The app, made at import so schemathesis can list its operations; its registry opens on
    the first call (schemathesis starts the lifespan), on the workspace of :func:`contract`."""
    from bdcert_adapters.service import ServiceSettings, create_app

    return create_app(_open_registry, ServiceSettings(rate_limit=0))  # many calls: no limit


APP = _app()


def _schema() -> Any:
    from bdcert_adapters.service.app import openapi_document

    loaded = schemathesis.openapi.from_dict(openapi_document(APP))
    loaded.app = APP
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=20,
        no_shrink=True,
        deterministic=True,
    )
    # a request over a documented maximum (files in a batch, bytes) may be refused with 413
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return loaded


schema = _schema()


@pytest.fixture(scope="module", autouse=True)
def contract(
    served_template: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A fresh demo workspace for the app; the operators' tokens."""
    ws, tokens = copy_served(served_template, tmp_path_factory.mktemp("contract") / "ws")
    _WORKSPACE["workspace"] = ws
    return {"tokens": tokens}


#: Operations whose contract is known to be broken, and by what; the test still runs them and
#: fails on anything else. Remove an entry when its route is fixed.
KNOWN_DEFECTS: dict[str, str] = {}

#: What the document promises. Not ``positive_data_acceptance``: a request can fit the schema and
#: still be refused for a rule the schema cannot express (a number without a name, an entry
#: that fails validation), with a documented 400 problem.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,  # an operation documented as needing credentials refuses a call without
]


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_conforms_to_the_document(case: Any, contract: dict[str, Any]) -> None:
    platform = {"Authorization": f"Bearer {contract['tokens']['platform']}"}
    checks = CHECKS
    if case.media_type in JSON_LINES:  # a batch answers 200 with a result (maybe rejected) a line
        checks = [c for c in CHECKS if c is not negative_data_rejection]
    try:
        case.call_and_validate(headers=platform, checks=checks)
        case.call_and_validate(checks=checks)
    except (Exception, BaseExceptionGroup):  # schemathesis's FailureGroup is a BaseExceptionGroup
        label = f"{case.method.upper()} {case.path}"
        if label in KNOWN_DEFECTS:
            pytest.xfail(KNOWN_DEFECTS[label])
        raise


def test_every_operation_documents_problems_and_how_to_authenticate() -> None:
    from bdcert_adapters.service.app import openapi_document

    document = openapi_document(APP)
    assert set(document["components"]["securitySchemes"]) == {"bearer", "mutualTLS"}
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            default = operation["responses"]["default"]
            assert default["content"]["application/problem+json"]["schema"] == problem_ref
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], (path, method, status)
    whoami = document["paths"]["/api/v1/whoami"]["get"]
    assert whoami["security"] == [{"bearer": []}, {"mutualTLS": []}]


def test_litestar_errors_are_problem_documents(contract: dict[str, Any]) -> None:
    from litestar.testing import TestClient

    with TestClient(_app()) as client:  # not APP: its lifespan is schemathesis's
        r = client.delete("/api/v1/whoami")
        assert r.status_code == 405
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "GET" in r.headers["allow"]
        served = client.get("/api/v1/openapi.json").json()
        assert client.get("/api/v1/schema/openapi.json").json() == served
        r = client.get("/api/v1/nothing-here")
        assert r.status_code == 404 and r.json()["type"].endswith("/not-found")
