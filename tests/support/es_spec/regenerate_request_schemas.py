"""Regenerate request_bodies.schema.json from Elastic's API specification.

The schemas are the request bodies of the Elasticsearch calls provisioning makes, taken
from the OpenAPI document that elastic/elasticsearch-specification generates for the
pinned minor (branch 9.5), turned into JSON Schema (draft 2020-12) for `jsonschema`.

Usage (from the repository root; Node.js 20 and npm on PATH, network for `npm ci`):

    tests/support/es_spec/build_spec.sh /tmp/es-spec 9.5
    .venv/bin/python tests/support/es_spec/regenerate_request_schemas.py /tmp/es-spec

build_spec.sh clones the branch and runs the repository's own compiler (generate-schema,
then transform-to-openapi --flavor stack). The adaptations below follow what the spec
itself says (output/schema/schema.json, read beside the OpenAPI document):

- objects are closed (additionalProperties: false) after merging the properties of their
  `allOf` inheritance chain, so a misspelt key is refused; classes the spec marks open (the
  AdditionalProperties / AdditionalProperty behaviours) stay open;
- a bare {"type": "object"} is how the generator renders UserDefinedValue: any JSON value;
- DynamicMapping also takes JSON booleans (@es_quirk in
  specification/_types/mapping/dynamic-template.ts);
- `nullable` becomes a "null" type; a discriminated union dispatches on its tag (with the
  spec's default tag when the key is absent, and unknown tags allowed where the spec says the
  union is non-exhaustive); other `oneOf` become `anyOf`, as the generated unions overlap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "request_bodies.schema.json"

# The calls provisioning makes (provisioning/elk_provision/elasticsearch_assets.py), as the
# official Python client sends them.
OPERATIONS = [
    ("PUT", "/_security/role/{name}"),
    ("PUT", "/_security/user/{username}"),
    ("PUT", "/_security/user/{username}/_password"),
    ("POST", "/_security/user/{username}/_password"),
    ("PUT", "/_ilm/policy/{policy}"),
    ("PUT", "/_component_template/{name}"),
    ("PUT", "/_index_template/{name}"),
    ("PUT", "/_snapshot/{repository}"),
    ("PUT", "/_slm/policy/{policy_id}"),
]
OPEN_BEHAVIOURS = {"AdditionalProperties", "AdditionalProperty"}
DROPPED_KEYS = {"description", "externalDocs", "examples", "example", "x-state",
                "x-available-since", "deprecated", "discriminator", "default", "format",
                "x-model", "x-variant", "title", "x-deprecation", "readOnly", "writeOnly"}
QUIRK_BOOLEAN_TOO = {"_types.mapping.DynamicMapping"}


class Converter:
    def __init__(self, openapi: dict[str, Any], spec_types: dict[str, Any]) -> None:
        self.components = openapi["components"]["schemas"]
        self.request_bodies = openapi["components"].get("requestBodies", {})
        self.types = spec_types
        self.defs: dict[str, Any] = {}
        self.pending: list[str] = []

    # -- helpers ------------------------------------------------------------------------
    def _ref_name(self, ref: str) -> str:
        return ref.rsplit("/", 1)[1]

    def _want(self, name: str) -> dict[str, str]:
        if name not in self.defs and name not in self.pending:
            self.pending.append(name)
        return {"$ref": f"#/$defs/{name}"}

    def _is_open(self, name: str | None) -> bool:
        spec = self.types.get(name or "")
        if spec is None:
            return False
        behaviours = set(spec.get("attachedBehaviors", []))
        behaviours |= {b["type"]["name"] for b in spec.get("behaviors", [])}
        if behaviours & OPEN_BEHAVIOURS:
            return True
        parent = spec.get("inherits", {}).get("type")
        return bool(parent) and self._is_open(f"{parent['namespace']}.{parent['name']}")

    def _is_class(self, node: dict[str, Any]) -> bool:
        """An object with properties, written either plainly or as `allOf: [Base, {own}]`."""
        if "oneOf" in node or "discriminator" in node:
            return False
        return "properties" in node or any(
            "$ref" not in part and "properties" in part for part in node.get("allOf", []))

    def _object_parts(self, node: dict[str, Any]) -> tuple[dict[str, Any], list[str], bool,
                                                             list[Any]]:
        """Merge `properties`/`required` along the allOf inheritance chain."""
        properties: dict[str, Any] = dict(node.get("properties", {}))
        required: list[str] = list(node.get("required", []))
        is_open = False
        others: list[Any] = []
        for part in node.get("allOf", []):
            name = self._ref_name(part["$ref"]) if set(part) == {"$ref"} else None
            target = self.components[name] if name else part
            if (name is None and "properties" in target) or (name and self._is_class(target)):
                props, req, chain_open, rest = self._object_parts(target)
                properties.update(props)
                required.extend(req)
                is_open = is_open or chain_open or self._is_open(name)
                others.extend(rest)
            else:
                others.append(part)
        return properties, required, is_open, others

    # -- conversion ---------------------------------------------------------------------
    def convert(self, node: Any, name: str | None = None) -> Any:
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            if ref.startswith("#/components/requestBodies/"):
                body = self.request_bodies[self._ref_name(ref)]
                return self.convert(body["content"]["application/json"]["schema"])
            return self._want(self._ref_name(ref))
        if name in QUIRK_BOOLEAN_TOO:
            return {"anyOf": [self.convert(dict(node)), {"type": "boolean"}]}
        if "discriminator" in node and "oneOf" in node:
            return self._tagged_union(node, name)
        if node.get("type") == "object" and set(node) - DROPPED_KEYS <= {"type"}:
            return {}  # UserDefinedValue
        if self._is_class(node):
            return self._object(node, name)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in DROPPED_KEYS or key == "nullable":
                continue
            if key == "oneOf":
                out["anyOf"] = [self.convert(v) for v in value]
            elif key in ("allOf", "anyOf"):
                out[key] = [self.convert(v) for v in value]
            elif key in ("items", "additionalProperties", "not"):
                out[key] = self.convert(value)
            else:
                out[key] = value
        if node.get("nullable"):
            out = {"anyOf": [out, {"type": "null"}]} if "type" not in out else {
                **out, "type": [out["type"], "null"]}
        return out

    def _object(self, node: dict[str, Any], name: str | None) -> dict[str, Any]:
        properties, required, chain_open, others = self._object_parts(node)
        out: dict[str, Any] = {
            "type": "object",
            "properties": {key: self.convert(value) for key, value in properties.items()},
        }
        if required:
            out["required"] = sorted(set(required))
        if "additionalProperties" in node:
            out["additionalProperties"] = self.convert(node["additionalProperties"])
        elif not (chain_open or self._is_open(name)):
            out["additionalProperties"] = False
        if others:
            out["allOf"] = [self.convert(v) for v in others]
        return out

    def _tagged_union(self, node: dict[str, Any], name: str | None) -> dict[str, Any]:
        tag = node["discriminator"]["propertyName"]
        mapping = node["discriminator"]["mapping"]
        variants = (self.types.get(name or "", {}).get("variants") or {})
        branches: list[dict[str, Any]] = [
            {"if": {"properties": {tag: {"const": value}}, "required": [tag]},
             "then": self._want(self._ref_name(ref))}
            for value, ref in sorted(mapping.items())
        ]
        default = variants.get("defaultTag")
        if default in mapping:
            branches.append({"if": {"not": {"required": [tag]}},
                             "then": self._want(self._ref_name(mapping[default]))})
        else:
            branches.append({"required": [tag]})
        out: dict[str, Any] = {"type": "object", "allOf": branches}
        if not variants.get("nonExhaustive"):
            out["properties"] = {tag: {"enum": sorted(mapping)}}
        return out

    def run(self, operations: dict[str, Any]) -> dict[str, Any]:
        converted = {key: self.convert(schema) for key, schema in operations.items()}
        while self.pending:
            name = self.pending.pop()
            self.defs[name] = None  # placeholder, breaks cycles
            self.defs[name] = self.convert(self.components[name], name)
        return converted


def spec_commit(spec_dir: Path) -> str:
    marker = spec_dir / "SPEC_COMMIT"
    if marker.exists():
        return marker.read_text().strip()
    return subprocess.run(["git", "-C", str(spec_dir), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    spec_dir = Path(argv[0])
    openapi = json.loads((spec_dir / "output/openapi/elasticsearch-openapi.json").read_text())
    schema = json.loads((spec_dir / "output/schema/schema.json").read_text())
    types = {f"{t['name']['namespace']}.{t['name']['name']}": t for t in schema["types"]}
    operations = {}
    for method, path in OPERATIONS:
        body = openapi["paths"][path][method.lower()]["requestBody"]
        if "$ref" not in body:
            body = body["content"]["application/json"]["schema"]
        operations[f"{method} {path}"] = body
    converter = Converter(openapi, types)
    converted = converter.run(operations)
    commit = spec_commit(spec_dir)
    out = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (
            "Generated by tests/support/es_spec/regenerate_request_schemas.py from "
            f"elastic/elasticsearch-specification commit {commit} "
            f"(output/openapi/elasticsearch-openapi.json, stack flavour). Do not edit."),
        "x-spec-commit": commit,
        "x-operations": converted,
        "$defs": dict(sorted(converter.defs.items())),
    }
    OUTPUT.write_text(json.dumps(out, indent=None, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{len(converted)} request bodies, {len(converter.defs)} definitions, "
          f"{OUTPUT.stat().st_size} bytes, spec commit {commit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
