"""Which fields a KQL or ES|QL query uses, and how: enough to check them against the mappings.

KQL: a parser for the subset the bundle writes, following the grammar of Kibana's KQL
(src/platform/packages/shared/kbn-es-query/grammar/grammar.peggy): `or` / `and` / `not`
(case-insensitive, `not` binding tightest, `and` before `or`), parentheses, `field : value`,
`field : (a or b)`, `field : *` (exists), range operators `< <= > >=`, quoted and unquoted
values, `*` wildcards in unquoted values. A free-text term without a field is refused on
purpose: it searches every field, so no mapping check could cover it. No PyPI package parses
Kibana's KQL (the "kql" packages there are Microsoft's Kusto language).

ES|QL: a token scan of the commands the rules and panels use (FROM ... METADATA, WHERE, EVAL,
STATS ... BY, KEEP, SORT, LIMIT): identifiers that are not functions, keywords, `?params`,
metadata fields or names the query itself defines. A FROM source may carry an index component
selector, `<pattern>::data` or `<pattern>::failures` (EsqlBaseParser.g4 `indexPattern`,
validated by the ES|QL IdentifierBuilder against IndexComponentSelector).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class QueryError(ValueError):
    """A query outside the subset understood here."""


@dataclass(frozen=True)
class Clause:
    field: str
    operator: str  # ":" or a range operator
    value: str
    quoted: bool

    @property
    def exists(self) -> bool:
        return self.operator == ":" and self.value == "*" and not self.quoted

    @property
    def wildcard(self) -> bool:
        return not self.quoted and "*" in self.value and not self.exists


_KQL_TOKEN = re.compile(r'\s*(?:(?P<quoted>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|<|>|:|\(|\))'
                        r'|(?P<word>(?:[^\s()":<>\\]|\\.)+))')
_RANGE = ("<", "<=", ">", ">=")


def _tokens(pattern: re.Pattern[str], text: str, language: str) -> list[tuple[str, str]]:
    """(group name, text) of each token; text no token matches is an error, never skipped."""
    tokens = []
    position = 0
    while position < len(text):
        match = pattern.match(text, position)
        if not match or match.end() == position:
            raise QueryError(f"cannot read {language} at {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _kql_tokens(query: str) -> list[tuple[str, str]]:
    return [("keyword", text.lower())
            if kind == "word" and text.lower() in ("and", "or", "not") else (kind, text)
            for kind, text in _tokens(_KQL_TOKEN, query.rstrip(), "KQL")]


class _KqlParser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _kql_tokens(query)
        self.at = 0
        self.clauses: list[Clause] = []

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, kind: str | None = None, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (kind and token[0] != kind) or (text and token[1] != text):
            raise QueryError(f"KQL {self.query!r}: expected {text or kind}, found {token}")
        self.at += 1
        return token

    def parse(self) -> list[Clause]:
        if self.tokens:
            self.or_expr(self.field_clause)
        if self.peek() is not None:
            raise QueryError(f"KQL {self.query!r}: unexpected {self.peek()}")
        return self.clauses

    # Boolean structure, shared by whole queries and value lists (`field : (a or b)`).
    def or_expr(self, primary) -> None:
        self.and_expr(primary)
        while self.peek() == ("keyword", "or"):
            self.take()
            self.and_expr(primary)

    def and_expr(self, primary) -> None:
        self.not_expr(primary)
        while self.peek() == ("keyword", "and"):
            self.take()
            self.not_expr(primary)

    def not_expr(self, primary) -> None:
        if self.peek() == ("keyword", "not"):
            self.take()
            return self.not_expr(primary)
        if self.peek() == ("op", "("):
            self.take()
            self.or_expr(primary)
            self.take("op", ")")
            return None
        return primary()

    def field_clause(self) -> None:
        kind, name = self.take()
        following = self.peek()
        if kind != "word" or following is None or following[0] != "op" or following[1] in "()":
            raise QueryError(f"KQL {self.query!r}: {name!r} is a free-text term; name a field")
        operator = self.take()[1]
        if operator in _RANGE:
            value_kind, value = self.take()
            if value_kind not in ("word", "quoted"):
                raise QueryError(f"KQL {self.query!r}: range on {name} needs a value")
            self.clauses.append(Clause(name, operator, _unquote(value), value_kind == "quoted"))
            return

        def value() -> None:
            value_kind, text = self.take()
            if value_kind not in ("word", "quoted"):
                raise QueryError(f"KQL {self.query!r}: {name} needs a value, found {text!r}")
            self.clauses.append(Clause(name, ":", _unquote(text), value_kind == "quoted"))

        if self.peek() == ("op", "("):
            self.take()
            self.or_expr(value)
            self.take("op", ")")
        else:
            value()


def _unquote(text: str) -> str:
    if text.startswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def kql_clauses(query: str) -> list[Clause]:
    """Every field clause of a KQL query (refusing what the subset does not cover)."""
    return _KqlParser(query).parse()


# ---------------------------------------------------------------- ES|QL

_ESQL_KEYWORDS = {"FROM", "WHERE", "EVAL", "STATS", "BY", "KEEP", "SORT", "LIMIT", "AND",
                  "OR", "NOT", "ASC", "DESC", "IS", "NULL", "TRUE", "FALSE", "LIKE", "RLIKE",
                  "IN", "DROP", "RENAME", "AS", "NULLS", "FIRST", "LAST", "METADATA"}
_ESQL_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>\d+(?:\.\d+)?)'
                         r"|(?P<param>\?\??[A-Za-z_]\w*)"
                         r"|(?P<name>[A-Za-z_@][\w.@]*|\*)|(?P<op>==|!=|<=|>=|[-+*/%<>=(),|]))")
# Index component selectors Elasticsearch accepts after `::` (IndexComponentSelector.java).
SELECTORS = ("data", "failures")


_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class EsqlUse:
    field: str
    function: str | None  # the function whose argument it is, if any
    compared_with: str | None  # "number" or "string" when compared with a literal


def _from_command(query: str) -> tuple[list[str], list[str]]:
    words = query.split("|", 1)[0].replace(",", " ").split()
    if not words or words[0].upper() != "FROM":
        raise QueryError(f"ES|QL must start with FROM: {query[:60]!r}")
    upper = [w.upper() for w in words]
    cut = upper.index("METADATA") if "METADATA" in upper else len(words)
    sources, metadata = words[1:cut], words[cut + 1:]
    if not sources or ("METADATA" in upper and not metadata):
        raise QueryError(f"ES|QL FROM without sources or metadata fields: {query[:60]!r}")
    return sources, metadata


def esql_sources(query: str) -> list[str]:
    """The FROM command's sources, each `pattern` or `pattern::selector`."""
    return _from_command(query)[0]


def esql_metadata(query: str) -> list[str]:
    """Metadata fields the FROM command asks for (`METADATA _index`)."""
    return _from_command(query)[1]


def split_selector(source: str) -> tuple[str, str]:
    """(index pattern, component): `data` unless the source names another selector."""
    pattern, separator, selector = source.partition("::")
    if not separator:
        return source, "data"
    if selector not in SELECTORS:
        # The ANTLR grammar takes any word after `::`; Elasticsearch refuses it.
        raise QueryError(f"ES|QL source {source!r}: unknown selector {selector!r}, "
                         f"Elasticsearch accepts {', '.join(SELECTORS)}")
    return pattern, selector


def esql_fields(query: str) -> list[EsqlUse]:
    """Source fields an ES|QL query reads (not the columns it defines itself)."""
    defined: set[str] = set(esql_metadata(query))
    uses: list[EsqlUse] = []
    for command in query.split("|")[1:]:
        tokens = _tokens(_ESQL_TOKEN, command.strip(), "ES|QL")
        functions: list[str | None] = []
        for index, (kind, text) in enumerate(tokens):
            following = tokens[index + 1] if index + 1 < len(tokens) else (None, "")
            previous = tokens[index - 1] if index else (None, "")
            if kind == "op" and text == "(":
                callee = previous[1].upper() if previous[0] == "name" else None
                functions.append(callee)
                continue
            if kind == "op" and text == ")":
                functions.pop()
                continue
            if kind != "name" or text == "*" or text.upper() in _ESQL_KEYWORDS:
                continue
            if following == ("op", "("):
                continue  # a function name
            if following == ("op", "="):
                defined.add(text)
                continue
            if text in defined:
                continue
            compared = None
            after = tokens[index + 2] if index + 2 < len(tokens) else (None, "")
            before = tokens[index - 2] if index >= 2 else (None, "")
            if following[1] in _COMPARISONS and after[0] in ("number", "string"):
                compared = after[0]
            elif previous[1] in _COMPARISONS and before[0] in ("number", "string"):
                compared = before[0]
            uses.append(EsqlUse(text, functions[-1] if functions else None, compared))
    return uses
