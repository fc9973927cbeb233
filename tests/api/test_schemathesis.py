"""Property-based API tests from /openapi.json (schemathesis): generated requests for every operation, checked
for no 5xx, documented status codes and content types, and responses that match their schemas; negative
(schema-violating) requests must be refused with a 4xx."""
from __future__ import annotations

import asyncio

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

POSITIVE_EXAMPLES = 30
NEGATIVE_EXAMPLES = 12
SKIP = {("GET", "/metrics")}        # text exposition format; covered by test_admin


def fuzz(doc: dict, base_url: str, headers: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    calls = [0]
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        for mode, examples, checks in (
                (GenerationMode.POSITIVE, POSITIVE_EXAMPLES,
                 [not_a_server_error, status_code_conformance, content_type_conformance,
                  response_schema_conformance]),
                (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES, [not_a_server_error, negative_data_rejection])):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception:            # nothing to violate in this operation (no body, no parameters)
                continue

            @hypothesis.given(case=strategy)
            @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                                 phases=[Phase.explicit, Phase.generate],
                                 suppress_health_check=list(HealthCheck))
            def run(case):
                calls[0] += 1
                response = case.call(base_url=base_url, headers=headers, timeout=10)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                case.validate_response(response, checks=checks)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                continue                  # nothing in this operation can be made schema-invalid
            except Exception as exc:  # collect every operation's failure, report them together
                failures.append(f"{mode.value} {operation.method.upper()} {operation.path}: {exc}"[:3000])
    assert calls[0] > 200, calls
    print(f"schemathesis: {calls[0]} requests, statuses {sorted(statuses.items())}")
    assert sum(n for status, n in statuses.items() if status < 300) > 100, statuses
    return failures


async def test_openapi_conformance(http, daemon, keys):
    async with http.get(daemon.api_url + "/openapi.json") as response:
        doc = await response.json()
    failures = await asyncio.to_thread(fuzz, doc, daemon.api_url, keys.headers("admin"))
    assert not failures, "\n\n".join(failures)
