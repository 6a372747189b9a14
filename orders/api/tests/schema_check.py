"""Checking API answers against the published OpenAPI schema (`/api/schema/`), as a strict
client generated from it would: every `$ref` followed, `nullable` honoured, formats (uri,
date, date-time, email) enforced. And the rule that goes beyond the schema: no `""` anywhere in
an answer (a value not there yet is `null`)."""

import functools
import json
from typing import Any

import jsonschema_rs
from django.test import Client

COMPONENTS = "#/components/schemas/"


@functools.cache
def published_schema() -> dict[str, Any]:
    """The schema as partners download it, in JSON."""
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.status_code
    return json.loads(response.content)


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's schema dialect as plain JSON Schema: `nullable: true` becomes "this, or
    null" (JSON Schema has no such keyword and would refuse the null)."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _as_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def _document() -> dict[str, Any]:
    schema = published_schema()
    return {"components": {"schemas": _as_json_schema(schema["components"]["schemas"])}}


@functools.cache
def validator(component: str) -> Any:
    """A validator for one component schema, e.g. "Order" or "PaginatedOrderList"."""
    assert component in published_schema()["components"]["schemas"], component
    return jsonschema_rs.Draft4Validator(
        {**_document(), "$ref": COMPONENTS + component}, validate_formats=True
    )


def schema_errors(component: str, data: Any) -> list[str]:
    """Where `data` breaks the component's schema, one line per violation; [] when it holds."""
    return [
        f"{'/'.join(str(part) for part in error.instance_path) or '(top)'}: {error.message}"
        for error in validator(component).iter_errors(data)
    ]


def blank_strings(data: Any, path: str = "") -> list[str]:
    """The paths in an answer whose value is the empty string."""
    if data == "":
        return [path or "(top)"]
    if isinstance(data, dict):
        return [hit for key, value in data.items() for hit in blank_strings(value, f"{path}/{key}")]
    if isinstance(data, list):
        return [hit for i, value in enumerate(data) for hit in blank_strings(value, f"{path}/{i}")]
    return []


def response_components(schema: dict[str, Any]) -> set[str]:
    """Every component an answer of the API can contain: those the operations' responses name,
    and everything they name in turn."""
    components = schema["components"]["schemas"]
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith(COMPONENTS) and ref[len(COMPONENTS) :] not in found:
                name = ref[len(COMPONENTS) :]
                found.add(name)
                walk(components[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path_item in schema["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                walk(operation.get("responses", {}))
    return found
