"""Every field our templates map that ECS defines has ECS's own type.

The reference is ECS's generated field table for the version the app writes in `ecs.version`
(tests/support/es_spec/ecs_fields.json, regenerated from elastic/ecs; its header names the
commit). Kibana apps and `ecs@mappings` assume these types; a stricter or looser type here
turns into a mapping conflict across data streams.
"""

import json

import pytest

from flask_logstash.ecs_formatter import ECS_VERSION
from tests.support import es_mappings
from tests.support.es_spec import ECS_FIELDS_FILE

ECS = json.loads(ECS_FIELDS_FILE.read_text())

# Fields we map inside one of ECS's own field sets although ECS does not define them, each
# with the reason it stays. ECS asks custom fields to live outside its sets; none does today.
CUSTOM_FIELDS_IN_ECS_SETS: dict[str, str] = {}


def all_mapped() -> dict[str, dict[str, str]]:
    return {t.name: es_mappings.mapped_fields(t) for t in es_mappings.index_templates()}


def mapping_of(template: es_mappings.IndexTemplate, field: str) -> dict:
    """The raw mapping of a dotted field, from the repo-held components and the template."""
    found: dict = {}
    sources = [es_mappings.component_templates()[name]
               for name in template.body.get("composed_of", [])
               if name not in es_mappings.BUILTIN_COMPONENTS] + [template.body]
    for source in sources:
        node = source.get("template", {}).get("mappings", {})
        for part in field.split("."):
            node = node.get("properties", {}).get(part)
            if node is None:
                break
        if node is not None:
            found = node
    return found


def test_reference_matches_the_ecs_version_the_app_writes():
    assert ECS["ecs_ref"] == f"v{ECS_VERSION}"


@pytest.mark.parametrize("template", es_mappings.index_templates(), ids=lambda t: t.name)
def test_ecs_fields_have_ecs_types(template):
    wrong = {}
    for field, field_type in es_mappings.mapped_fields(template).items():
        spec = ECS["fields"].get(field)
        if spec is None:
            continue
        raw = mapping_of(template, field)
        ours = {"type": field_type, **{k: raw[k] for k in ("index", "doc_values") if k in raw}}
        theirs = {k: spec[k] for k in ("type", "index", "doc_values") if k in spec}
        if ours != theirs:
            wrong[field] = (ours, theirs)
    assert not wrong, f"(ours, ECS {ECS['ecs_ref']}): {wrong}"


@pytest.mark.parametrize("template", es_mappings.index_templates(), ids=lambda t: t.name)
def test_no_undeclared_custom_field_inside_an_ecs_field_set(template):
    strays = []
    for field in es_mappings.mapped_fields(template):
        if field in ECS["fields"] or field in CUSTOM_FIELDS_IN_ECS_SETS:
            continue
        parent, _, sub = field.rpartition(".")
        multi = ECS["fields"].get(parent, {}).get("multi_fields", [])
        if any(m["name"] == sub for m in multi):
            continue
        if field.split(".")[0] in ECS["field_sets"]:
            strays.append(field)
    assert not strays, f"not in ECS {ECS['ecs_ref']} but inside its field sets: {strays}"


def test_the_reference_itself_is_the_ecs_table():
    # Negative control: the committed table holds what ECS says about the fields named in
    # the issue, so a test reading it can fail.
    assert ECS["fields"]["url.path"]["type"] == "wildcard"
    assert ECS["fields"]["error.stack_trace"]["type"] == "wildcard"
    assert "event.created_original" not in ECS["fields"]
    assert "event" in ECS["field_sets"]
