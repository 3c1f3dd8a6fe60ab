"""The shipped saved objects parse, resolve, and use only fields the templates map."""

import json
import re
import sys

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
            if ref_name is not None:
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


def load_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_saved_objects", REPO_ROOT / "kibana" / "build_saved_objects.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_committed_dashboards_equal_a_fresh_build():
    assert (OBJECTS_DIR / "dashboards.ndjson").read_text() == load_builder().build()


def test_both_dashboards_ship():
    ids = {o["id"] for o in objects() if o["type"] == "dashboard"}
    assert ids == {"flask-overview", "flask-pipeline-health"}


def test_lens_reference_names_follow_kibanas_rules():
    for obj in objects():
        if obj["type"] != "dashboard":
            continue
        names = {r["name"] for r in obj["references"]}
        for panel in json.loads(obj["attributes"]["panelsJSON"]):
            index = panel["panelIndex"]
            assert panel["gridData"]["i"] == index
            grid = panel["gridData"]
            assert grid["x"] >= 0
            assert grid["x"] + grid["w"] <= 48
            if panel["type"] == "lens":
                attrs = panel["embeddableConfig"]["attributes"]
                for layer in attrs["state"]["datasourceStates"]["formBased"]["layers"]:
                    own = f"indexpattern-datasource-layer-{layer}"
                    assert own in {r["name"] for r in attrs["references"]}
                    assert f"{index}:{own}" in names
            else:
                assert f"{index}:{panel['panelRefName']}" in names


NUMERIC_OPS = {"percentile", "average", "sum", "median", "max", "min"}


def test_every_field_a_visualization_uses_is_mapped_with_a_usable_type():
    builder = load_builder()
    mapped = all_mapped_fields()
    usable_for_terms = {"keyword", "constant_keyword", "ip"} | es_mappings.NUMERIC_TYPES
    for obj in objects():
        if obj["type"] != "dashboard":
            continue
        for column in builder.lens_columns(obj):
            source = column.get("sourceField")
            if source in (None, "___records___"):
                continue
            assert source in mapped, f"{obj['id']}: {source} is not mapped"
            kind = mapped[source]
            op = column["operationType"]
            if op in NUMERIC_OPS:
                assert kind in es_mappings.NUMERIC_TYPES, f"{op} on {source} ({kind})"
            elif op == "terms":
                assert kind in usable_for_terms, f"terms on {source} ({kind})"
            elif op == "date_histogram":
                assert kind in {"date", "date_nanos"}, source


def test_kibana_9_5_migrates_every_committed_object_instead_of_refusing_it():
    from tests.support.fake_kibana import migration_refusal, pinned_kibana_version

    version = pinned_kibana_version()
    for obj in objects():
        assert migration_refusal(obj, version) is None, obj["id"]


def test_the_committed_set_imports_into_an_empty_kibana_in_one_upload():
    from tests.support.fake_kibana import import_objects, pinned_kibana_version

    store = {}
    result = import_objects(store, objects(), overwrite=True,
                            kibana_version=pinned_kibana_version())
    assert result["success"] is True, result.get("errors")
    assert len(store) == len(objects())
