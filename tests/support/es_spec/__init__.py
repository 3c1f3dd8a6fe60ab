"""Reference data generated from Elastic's own published definitions (see README.md here).

- request_bodies.schema.json: the request bodies provisioning sends, from
  elastic/elasticsearch-specification (branch of the pinned minor), as JSON Schema.
- ecs_fields.json: ECS's definition of each field our templates map, from elastic/ecs.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

HERE = Path(__file__).resolve().parent
ECS_FIELDS_FILE = HERE / "ecs_fields.json"
REQUEST_BODIES_FILE = HERE / "request_bodies.schema.json"


@cache
def _document() -> dict[str, Any]:
    return json.loads(REQUEST_BODIES_FILE.read_text())


def spec_commit() -> str:
    return str(_document()["x-spec-commit"])


def operations() -> list[str]:
    """'METHOD /path/{param}' for every request body we hold a schema for."""
    return sorted(_document()["x-operations"])


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


@cache
def _validator(operation: str) -> Draft202012Validator:
    document = _document()
    schema = {"$schema": document["$schema"], "$defs": document["$defs"],
              **document["x-operations"][operation]}
    return Draft202012Validator(schema)


def operation_for(method: str, path: str) -> str | None:
    for operation in operations():
        op_method, template = operation.split(" ", 1)
        if op_method == method and _template_regex(template).match(path):
            return operation
    return None


def body_errors(operation: str, body: Any) -> list[str]:
    """What the specification says is wrong with `body`, one line per error ([] if none)."""
    errors = sorted(_validator(operation).iter_errors(body), key=lambda e: list(e.path))
    return [f"[{'.'.join(str(p) for p in e.absolute_path) or '(body)'}] {e.message}"
            for e in errors]


def mapping_types() -> frozenset[str]:
    """Field types the specification's mapping `Property` union names (its tags)."""
    union = _document()["$defs"]["_types.mapping.Property"]
    return frozenset(branch["if"]["properties"]["type"]["const"] for branch in union["allOf"]
                     if "properties" in branch.get("if", {}))
