"""Read the repository's Elasticsearch templates as a flat field -> type table.

The contract tests ask "is this field mapped, and with a type that fits?" without an
Elasticsearch. They answer from the files provisioning applies, so a field that a producer
(app, Logstash) or a consumer (Kibana) uses but the templates forget is caught here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT

ASSETS = REPO_ROOT / "elasticsearch"

# Elasticsearch's own components that our index templates compose; their fields are not in
# the repo, so the explicit mapping must live in our component template.
BUILTIN_COMPONENTS = frozenset({"logs@mappings", "logs@settings", "logs@custom", "ecs@mappings"})

NUMERIC_TYPES = frozenset(
    {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float",
     "unsigned_long"}
)
STRING_TYPES = frozenset(
    {"keyword", "constant_keyword", "wildcard", "text", "match_only_text", "ip", "date",
     "date_nanos", "version"}
)


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@dataclass(frozen=True)
class IndexTemplate:
    name: str
    body: dict[str, Any]

    @property
    def patterns(self) -> list[str]:
        return list(self.body["index_patterns"])

    @property
    def priority(self) -> int:
        return int(self.body.get("priority", 0))

    @property
    def lifecycle_name(self) -> str | None:
        settings = self.body.get("template", {}).get("settings", {})
        flat = dict(flatten_settings(settings))
        return flat.get("index.lifecycle.name")


def flatten_settings(settings: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten_settings(value, f"{name}.")
        else:
            # Settings may be written "index.x" or nested {"index": {"x": ...}}; normalise.
            yield (name if name.startswith("index.") else f"index.{name}"), value


def index_templates() -> list[IndexTemplate]:
    return [
        IndexTemplate(p.stem, load_json(p))
        for p in sorted((ASSETS / "index_templates").glob("*.json"))
    ]


def component_templates() -> dict[str, dict[str, Any]]:
    return {p.stem: load_json(p) for p in sorted((ASSETS / "component_templates").glob("*.json"))}


def ilm_policy_names() -> set[str]:
    return {p.stem for p in (ASSETS / "ilm").glob("*.json")}


def flatten_properties(
    properties: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, str]]:
    """Yield (dotted field, type) for every leaf, and for every multi-field (`a.text`)."""
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            yield from flatten_properties(spec["properties"], f"{path}.")
            continue
        field_type = spec.get("type", "object")
        yield path, field_type
        for sub, sub_spec in spec.get("fields", {}).items():
            yield f"{path}.{sub}", sub_spec.get("type", "object")


def mapped_fields(template: IndexTemplate) -> dict[str, str]:
    """Field -> type after composing the template's repo-held components, in order."""
    components = component_templates()
    fields: dict[str, str] = {}
    for name in template.body.get("composed_of", []):
        if name in BUILTIN_COMPONENTS:
            continue
        mappings = components[name].get("template", {}).get("mappings", {})
        fields.update(flatten_properties(mappings.get("properties", {})))
    own = template.body.get("template", {}).get("mappings", {})
    fields.update(flatten_properties(own.get("properties", {})))
    return fields


def leaf_values(event: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted field, value) for every leaf of a JSON event; lists yield their items."""
    for key, value in event.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from leaf_values(value, f"{path}.")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    yield from leaf_values(item, f"{path}.")
                else:
                    yield path, item
        else:
            yield path, value


def type_accepts(field_type: str, value: Any) -> bool:
    """Whether a JSON value of this Python type is indexed as intended by the mapped type."""
    if isinstance(value, bool):
        return field_type == "boolean"
    if isinstance(value, int | float):
        return field_type in NUMERIC_TYPES or field_type in {"date", "date_nanos"}
    if isinstance(value, str):
        return field_type in STRING_TYPES
    return value is None
