"""The shipped saved objects parse, resolve, and use only fields the templates map."""

import json
import re

import pytest

from tests.conftest import REPO_ROOT
from tests.support import es_mappings

OBJECTS_DIR = REPO_ROOT / "kibana" / "saved_objects"
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def objects():
    found = []
    for path in sorted(OBJECTS_DIR.glob("*.ndjson")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert line.strip(), f"{path.name}:{number} is blank"
            found.append(json.loads(line))
    return found


def all_mapped_fields():
    fields = {}
    for template in es_mappings.index_templates():
        fields.update(es_mappings.mapped_fields(template))
    return fields


def test_every_object_has_type_id_attributes_and_migration_versions():
    items = objects()
    assert {o["type"] for o in items} >= {"index-pattern", "search"}
    for obj in items:
        assert obj["id"]
        assert obj["attributes"]["title"]
        # Without them Kibana would treat old-shaped objects as current (kibana#256031).
        assert obj["coreMigrationVersion"]
        assert obj["typeMigrationVersion"]
    ids = [(o["type"], o["id"]) for o in items]
    assert len(ids) == len(set(ids)), "ids must be unique for overwrite to be idempotent"


def test_every_reference_resolves_inside_the_shipped_set():
    items = objects()
    shipped = {(o["type"], o["id"]) for o in items}
    for obj in items:
        for ref in obj.get("references", []):
            assert (ref["type"], ref["id"]) in shipped, f"{obj['id']} -> {ref}"
        source = obj["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if source:
            ref_name = json.loads(source).get("indexRefName")
            assert ref_name in {r["name"] for r in obj["references"]}


def test_the_data_view_covers_every_bundle_stream():
    (view,) = [o for o in objects() if o["type"] == "index-pattern"]
    assert view["id"] == "flask-logs"
    assert view["attributes"]["timeFieldName"] == "@timestamp"
    pattern = view["attributes"]["title"]
    for template in es_mappings.index_templates():
        for index_pattern in template.patterns:
            stream = index_pattern.replace("*", "default")
            assert re.fullmatch(pattern.replace(".", r"\.").replace("*", ".*"), stream)


def fields_in_query(query):
    return set(re.findall(r"([A-Za-z_@][\w.@]*)\s*:", query))


def test_every_field_a_search_uses_is_mapped():
    mapped = all_mapped_fields()
    for obj in objects():
        if obj["type"] != "search":
            continue
        source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        used = fields_in_query(source["query"]["query"]) | set(obj["attributes"]["columns"])
        used |= {field for field, _ in obj["attributes"]["sort"]}
        for field in used:
            assert field in mapped, f"{obj['id']} uses unmapped {field}"


def test_duration_format_is_on_a_numeric_field():
    (view,) = [o for o in objects() if o["type"] == "index-pattern"]
    formats = json.loads(view["attributes"]["fieldFormatMap"])
    mapped = all_mapped_fields()
    for field, spec in formats.items():
        if spec["id"] == "duration":
            assert mapped[field] in es_mappings.NUMERIC_TYPES


def test_no_absolute_time_is_baked_in():
    for path in OBJECTS_DIR.glob("*.ndjson"):
        assert not ISO_DATE.search(path.read_text()), path.name


@pytest.mark.parametrize("bad", ["http.request.idx", "nonexistent.field"])
def test_the_field_check_catches_an_unmapped_field(bad):
    assert bad not in all_mapped_fields()
    assert bad in fields_in_query(f'{bad} : "x"')
