"""OpenAPI 3.1 document generated from the route table and the pydantic models the handlers validate with."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.api import models as m
from bot.api.core import RouteSpec
from bot.api.keys import SCOPES

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{([^}]+)}")
_RATE_HEADERS = {
    "RateLimit-Policy": "quota policy (IETF draft), e.g. \"default\";q=3000;w=10",
    "RateLimit": "remaining quota (IETF draft), e.g. \"default\";r=2999;t=10",
    "X-RateLimit-Limit": "requests allowed per window",
    "X-RateLimit-Remaining": "requests left in this window",
    "X-RateLimit-Reset": "seconds until the window resets",
}


def _models(specs: list[RouteSpec]) -> list[tuple[type[BaseModel], str]]:
    pairs: list[tuple[type[BaseModel], str]] = [(m.ErrorBody, "serialization")]
    for spec in specs:
        if spec.body is not None:
            pairs.append((spec.body, "validation"))
        if spec.body_schema and "model" in spec.body_schema:
            pairs.append((spec.body_schema["model"], "validation"))
        for _, target in spec.responses.values():
            if isinstance(target, type) and issubclass(target, BaseModel):
                pairs.append((target, "serialization"))
    seen: list[tuple[type[BaseModel], str]] = []
    for pair in pairs:
        if pair not in seen:
            seen.append(pair)
    return seen


def _security(scope: str | None) -> list[dict[str, list[str]]]:
    if scope in SCOPES:
        return [{"bearerAuth": []}, {"apiKeyAuth": []}]
    if scope == "basic":
        return [{"basicAuth": []}, {"bearerAuth": []}, {"apiKeyAuth": []}]
    return []


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def document(specs: list[RouteSpec]) -> dict[str, Any]:
    return _document(tuple(id(s) for s in specs), specs)


_CACHE: dict[tuple[int, ...], dict[str, Any]] = {}


def _document(key: tuple[int, ...], specs: list[RouteSpec]) -> dict[str, Any]:
    if key in _CACHE:
        return _CACHE[key]
    refs, defs = models_json_schema(_models(specs), ref_template=REF)
    schemas = defs.get("$defs", {})
    error = {"description": "error", "content": _json_content(refs[(m.ErrorBody, "serialization")]),
             "headers": {"X-Correlation-ID": {"schema": {"type": "string"}, "description": "request correlation id"}}}
    paths: dict[str, Any] = {}
    for spec in specs:
        operation: dict[str, Any] = {"operationId": spec.operation_id, "summary": spec.summary,
                                     "tags": list(spec.tags), "security": _security(spec.scope)}
        description = spec.description
        if spec.scope in SCOPES:
            description = (description + "\n\n" if description else "") + f"Requires scope `{spec.scope}`."
        if description:
            operation["description"] = description
        params: list[dict[str, Any]] = []
        for name in _PATH_PARAM.findall(spec.path):
            params.append({"name": name, "in": "path", "required": True,
                           "schema": {"type": "string", "minLength": 1, "maxLength": 128}})
        if spec.query is not None:
            qschema = spec.query.model_json_schema(ref_template=REF)
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                prop = dict(prop)
                prop.pop("title", None)
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop,
                               **({"description": prop["description"]} if "description" in prop else {})})
        for name, text, schema in spec.headers:
            params.append({"name": name, "in": "header", "required": False, "schema": schema, "description": text})
        if params:
            operation["parameters"] = params
        if spec.body is not None or spec.body_schema is not None:
            if spec.body is not None:
                schema = refs[(spec.body, "validation")]
            elif "model" in spec.body_schema:  # type: ignore[operator]
                schema = refs[(spec.body_schema["model"], "validation")]  # type: ignore[index]
            else:
                schema = spec.body_schema["schema"]  # type: ignore[index]
            content = _json_content(schema)
            if spec.body_schema and spec.body_schema.get("text"):
                content["text/plain"] = {"schema": {"type": "string"}}
            operation["requestBody"] = {"required": not spec.body_optional, "content": content}
        responses: dict[str, Any] = {}
        for status, (text, target) in sorted(spec.responses.items()):
            entry: dict[str, Any] = {"description": text}
            if isinstance(target, type) and issubclass(target, BaseModel):
                entry["content"] = _json_content(refs[(target, "serialization")])
            elif isinstance(target, dict):
                entry["content"] = _json_content(target)
            elif isinstance(target, str):
                entry["content"] = {target: {"schema": {"type": "string"}}}
            if status != 101:
                entry["headers"] = {"X-Correlation-ID": {"schema": {"type": "string"}, "required": True,
                                                         "description": "echoed from the request or generated"}}
                if spec.scope in SCOPES or spec.scope == "basic":
                    entry["headers"].update({h: {"schema": {"type": "string"}, "description": d}
                                             for h, d in _RATE_HEADERS.items()})
            responses[str(status)] = entry
        if spec.body is not None or spec.query is not None or spec.body_schema is not None:
            responses.setdefault("400", {**error, "description": "INVALID_REQUEST: the request does not validate"})
        if spec.scope in SCOPES or spec.scope == "basic":
            responses.setdefault("401", {**error, "description": "UNAUTHENTICATED"})
            responses.setdefault("403", {**error, "description": "FORBIDDEN: the key lacks the scope"})
        if spec.scope is not None:
            responses.setdefault("429", {**error, "description": "RATE_LIMITED (see Retry-After)"})
        responses["default"] = {**error, "description": "error"}
        operation["responses"] = responses
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "Tradewire API", "version": "1",
                 "description": "Order gateway, signals, state and controls of a Tradewire daemon. Money and "
                                "quantities are decimal strings. Errors: {code, message, details, correlation_id}."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
                "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "basicAuth": {"type": "http", "scheme": "basic",
                              "description": "API key name as user, the key as password (/trading/orders)"},
            },
        },
    }
    _CACHE[key] = doc
    return doc
