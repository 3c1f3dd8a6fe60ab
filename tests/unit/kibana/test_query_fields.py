"""The KQL and ES|QL readers behind the field checks: they find every field, refuse what they
cannot read, and never mistake a value or a defined column for a field."""

import random
import string

import pytest

from tests.unit.kibana.query_fields import (
    Clause,
    QueryError,
    esql_fields,
    esql_metadata,
    esql_sources,
    kql_clauses,
)


def test_kql_fields_values_and_operators():
    query = ('event.dataset : "flask.access" and (http.response.status_code >= 500 or '
             'not tags : (a or "b c")) AND error.stack_trace : * and url.path : /api/*')
    assert kql_clauses(query) == [
        Clause("event.dataset", ":", "flask.access", True),
        Clause("http.response.status_code", ">=", "500", False),
        Clause("tags", ":", "a", False),
        Clause("tags", ":", "b c", True),
        Clause("error.stack_trace", ":", "*", False),
        Clause("url.path", ":", "/api/*", False),
    ]
    assert kql_clauses(query)[4].exists
    assert kql_clauses(query)[5].wildcard


def test_quoted_values_may_hold_keywords_operators_and_escaped_quotes():
    assert kql_clauses(r'message : "a or b : (c) \"d\""') == [
        Clause("message", ":", 'a or b : (c) "d"', True)]


def test_an_empty_query_uses_no_field():
    assert kql_clauses("") == []
    assert kql_clauses("   ") == []


@pytest.mark.parametrize("query", [
    "error",  # free text searches every field: no mapping check could cover it
    'event.dataset : "x" and error',
    "a : ",
    "a : (b",
    "(a : b",
    "a : b)",
    ": x",
    "a >= (1 or 2)",
    'a : "unterminated',
])
def test_kql_outside_the_subset_is_refused(query):
    with pytest.raises(QueryError):
        kql_clauses(query)


def random_clause(chance):
    field = ".".join("".join(chance.choices(string.ascii_lowercase + "_@", k=chance.randint(1, 6)))
                     for _ in range(chance.randint(1, 4)))
    if field in ("and", "or", "not"):
        field += "x"
    alphabet = string.printable.replace('"', "").replace("\\", "") + "äé€ "
    value = "".join(chance.choices(alphabet, k=chance.randint(1, 12)))
    return field, chance.choice([":", ">=", "<", ">", "<="]), value


@pytest.mark.parametrize("seed", range(200))
def test_any_combination_of_clauses_yields_exactly_its_fields(seed):
    # Seeded (no hypothesis in the test extras), so a failure names its case.
    chance = random.Random(seed)
    clauses = [random_clause(chance) for _ in range(chance.randint(1, 5))]
    query = " ".join((chance.choice(["and", "OR", "and not"]) + " " if i else "")
                     + f'{field} {op} "{value}"' for i, (field, op, value) in enumerate(clauses))
    assert kql_clauses(query) == [Clause(f, op, v, True) for f, op, v in clauses]


def test_esql_fields_skip_functions_keywords_literals_and_defined_columns():
    query = ('FROM logs-flask.access-*\n| WHERE event.dataset == "flask.access"\n'
             "| EVAL slow = CASE(event.duration > 1000, 1, 0)\n"
             "| STATS n = COUNT(*), s = SUM(slow) BY service.name\n"
             "| WHERE n >= 20 AND s > 0\n| KEEP service.name, n\n| SORT n DESC\n| LIMIT 5")
    assert esql_sources(query) == ["logs-flask.access-*"]
    uses = esql_fields(query)
    assert [(u.field, u.function, u.compared_with) for u in uses] == [
        ("event.dataset", None, "string"), ("event.duration", "CASE", "number"),
        ("service.name", None, None), ("service.name", None, None)]


def test_esql_selectors_metadata_and_params_are_not_fields():
    query = ('FROM logs-flask.*-*, logs-flask.*-*::failures METADATA _index\n'
             '| WHERE STARTS_WITH(_index, ".fs-")\n'
             "| STATS n = COUNT(*) BY b = BUCKET(@timestamp, 50, ?_tstart, ?_tend), error.type")
    assert esql_sources(query) == ["logs-flask.*-*", "logs-flask.*-*::failures"]
    assert esql_metadata(query) == ["_index"]
    assert [(u.field, u.function) for u in esql_fields(query)] == [
        ("@timestamp", "BUCKET"), ("error.type", None)]


@pytest.mark.parametrize("query", ["ROW a = 1", "WHERE x == 1", 'FROM x | WHERE a == "b',
                                   "FROM x METADATA | LIMIT 1", "FROM METADATA _id"])
def test_esql_outside_the_subset_is_refused(query):
    with pytest.raises(QueryError):
        esql_fields(query)
