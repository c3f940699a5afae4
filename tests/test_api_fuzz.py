"""Schemathesis fuzzes the JSON API from its own /api/v1/openapi.json, against the real
server (uvicorn on a loopback port) with a supervisor's token: valid and invalid requests to
every operation, on a made-up ticket number and on a real ticket. No answer is a 5xx, and
every answer has a documented status, content type and schema. Hypothesis's example counts
are small to keep the run near half a minute; there is no time limit per example."""

from __future__ import annotations

import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.console_server import serving
from tests.console_support import mail
from triage_desk.desk_service.tokens import ApiTokens

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 8  # per operation and kind of run


def test_the_api_survives_fuzzing_and_matches_its_own_description(world):
    number = world.mail(mail("Nevaru pieslēgties", "Labdien! Parole neder, kas jādara?"))
    token, _ = ApiTokens(world.app.sessions, world.clock).create("sandra")
    auth = {"Authorization": f"Bearer {token}"}
    with serving(world.web) as base:
        schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        # Every route of the API is described, so every one is fuzzed.
        routes = {
            (method, route.path)
            for route in world.web.routes
            if isinstance(route, APIRoute) and route.path.startswith("/api/v1/")
            if route.path != "/api/v1/openapi.json"  # the description itself
            for method in route.methods
        }
        assert {(o.method.upper(), o.path) for o in operations} == routes
        called: list[int] = []
        for operation in operations:
            runs = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
            if "{number}" in operation.path:
                runs.append((GenerationMode.POSITIVE, {"number": number}))
            for mode, path in runs:

                @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def fuzz(case: schemathesis.Case) -> None:
                    response = case.call(base_url=base, headers=auth, timeout=30)
                    called.append(response.status_code)
                    case.validate_response(response, checks=CHECKS)

                fuzz()
    assert max(called) < 500
    assert 200 in called and 404 in called and 422 in called  # it reached deep and shallow
