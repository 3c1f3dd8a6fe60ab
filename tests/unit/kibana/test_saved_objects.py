"""The shipped saved objects parse, resolve, and use only fields the templates map."""

import json
import re
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.support import es_mappings
from tests.unit.kibana import object_fields

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
    return object_fields.mapped_fields()


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


def test_every_field_a_search_uses_is_mapped():
    mapped = all_mapped_fields()
    for obj in objects():
        if obj["type"] != "search":
            continue
        assert not object_fields.problems(list(object_fields.object_uses(obj)), mapped)


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
    uses = list(object_fields.kql_uses("probe", f'{bad} : "x"'))
    assert [u.field for u in uses] == [bad, bad]
    assert object_fields.problems(uses, all_mapped_fields()) == [
        f"probe: {bad} is not mapped", f"probe: {bad} is not mapped"]


def load_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_saved_objects", REPO_ROOT / "kibana" / "build_saved_objects.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_committed_objects_and_rules_equal_a_fresh_build():
    built = load_builder().build_all()
    assert {p.name for p in built} >= {"flask-logs.ndjson", "dashboards.ndjson",
                                       "flask-error-rate.json", "flask-latency-p95.json"}
    for path, text in built.items():
        assert path.read_text() == text, f"{path.name} differs: run kibana/build_saved_objects.py"
    generated_rules = {p for p in built if p.suffix == ".json"}
    assert set((REPO_ROOT / "kibana" / "rules").glob("*.json")) == generated_rules
    assert set(OBJECTS_DIR.glob("*.ndjson")) == {p for p in built if p.suffix == ".ndjson"}


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
                sources = attrs["state"]["datasourceStates"]
                for layer in sources.get("formBased", {}).get("layers", {}):
                    own = f"indexpattern-datasource-layer-{layer}"
                    assert own in {r["name"] for r in attrs["references"]}
                    assert f"{index}:{own}" in names
                # An ES|QL layer reads an ad-hoc data view held in the panel itself, named in
                # internalReferences (lens text_based_languages.tsx getPersistableState), so
                # nothing outside the panel must exist.
                ad_hoc = attrs["state"].get("adHocDataViews", {})
                internal = {r["name"]: r["id"] for r in attrs["state"]["internalReferences"]}
                for layer_id, layer in sources.get("textBased", {}).get("layers", {}).items():
                    assert internal[f"textBasedLanguages-datasource-layer-{layer_id}"] == (
                        layer["index"])
                    assert ad_hoc[layer["index"]]["type"] == "esql"
                    assert ad_hoc[layer["index"]]["timeFieldName"] == layer["timeField"]
            elif "panelRefName" in panel:
                assert f"{index}:{panel['panelRefName']}" in names
            else:  # by value without data: the help text
                assert panel["type"] == "visualization"
                assert panel["embeddableConfig"]["savedVis"]["type"] == "markdown"
        # Controls refer to the data view as controlGroup_<id>:optionsListDataView (dashboard
        # reference extraction of the controls plugin); a control without one has no options.
        controls = json.loads(obj["attributes"].get("controlGroupInput", {}).get("panelsJSON",
                                                                                   "{}"))
        for control_id, control in controls.items():
            assert control["explicitInput"]["id"] == control_id
            assert f"controlGroup_{control_id}:optionsListDataView" in names
    for obj in objects():
        if obj["type"] == "map":
            names = {r["name"] for r in obj["references"]}
            for layer in json.loads(obj["attributes"]["layerListJSON"]):
                ref_name = layer["sourceDescriptor"].get("indexPatternRefName")
                assert ref_name is None or ref_name in names, layer["id"]


def test_every_field_every_object_uses_is_mapped_with_a_type_that_supports_the_use():
    uses = [use for obj in objects() for use in object_fields.object_uses(obj)]
    kinds = {use.kind for use in uses}
    # The walk reaches panels, controls, column filters, formulas and map layers.
    assert {"control", "geo", "range", "terms", "numeric", "date_histogram", "histogram",
            "unique_count", "format:url"} <= kinds
    assert object_fields.problems(uses, all_mapped_fields()) == []


def uses_of_a_build(builder):
    built = builder.build_all()
    uses = []
    for path, text in built.items():
        if path.suffix == ".ndjson":
            for line in text.splitlines():
                uses.extend(object_fields.object_uses(json.loads(line)))
        else:
            uses.extend(object_fields.rule_uses(path.stem, json.loads(text)))
    return uses


@pytest.mark.parametrize("constant", ["ACCESS", "SERVER_ERROR", "DELIVERY_LOSS",
                                      "FAILURE_TAGS"])
def test_renaming_a_field_in_a_shared_filter_to_an_unmapped_one_fails(constant):
    # The mutation issue 17 found surviving: the access filter renamed emptied nine panels.
    builder = load_builder()
    original = getattr(builder, constant)
    field = re.match(r"[\w.@]+", original)[0]
    setattr(builder, constant, original.replace(field, field + "x", 1))
    found = object_fields.problems(uses_of_a_build(builder), all_mapped_fields())
    assert found
    assert all(f"{field}x is not mapped" in p for p in found)


def test_a_field_used_for_something_its_type_cannot_do_fails():
    builder = load_builder()
    builder.CONTROLS = [*builder.CONTROLS, ("message", "Message")]
    builder.SERVER_ERROR = "url.path >= 500"
    found = object_fields.problems(uses_of_a_build(builder), all_mapped_fields())
    assert any("control on message, mapped as match_only_text" in p for p in found)
    assert any("range on url.path" in p for p in found)


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
