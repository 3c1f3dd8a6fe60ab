"""The redaction corpus: secret shapes that must never leave the process, benign values that
must leave it unchanged. Data in secrets.yaml and benign.yaml, next to this file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import yaml

HERE = Path(__file__).resolve().parent
EXTRA_KEYS = ("mfa", "national_id")
# A leak is any piece this long of a secret (shorter secrets: the whole of it).
LEAK_PIECE = 10


@dataclass(frozen=True)
class SecretShape:
    id: str
    leak_class: str
    text: str
    secrets: tuple[str, ...]
    name: str | None = None
    value: str | None = None
    query: str | None = None
    needs_extra_keys: bool = False
    no_header: bool = False

    @property
    def dict_value(self) -> str:
        return self.value if self.value is not None else self.secrets[0]

    @property
    def raw_query(self) -> str:
        if self.query is not None:
            return self.query
        if any(char.isspace() for char in self.text):
            return "q=" + quote(self.text, safe="")
        return self.text


def secret_shapes() -> list[SecretShape]:
    entries = yaml.safe_load((HERE / "secrets.yaml").read_text())
    return [
        SecretShape(
            id=e["id"], leak_class=e["class"], text=e["text"], secrets=tuple(e["secrets"]),
            name=e.get("name"), value=e.get("value"), query=e.get("query"),
            needs_extra_keys=e.get("needs_extra_keys", False),
            no_header=e.get("no_header", False),
        )
        for e in entries
    ]


def benign_values() -> list[str]:
    return list(yaml.safe_load((HERE / "benign.yaml").read_text())["values"])


def known_false_positives() -> list[str]:
    return list(yaml.safe_load((HERE / "benign.yaml").read_text())["known_false_positives"])


def leak_pieces(secret: str) -> set[str]:
    """Every form of a secret whose presence in output counts as a leak: its pieces of
    LEAK_PIECE characters, as written, JSON-escaped and URL-encoded."""
    forms = {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}
    pieces = set()
    for form in forms:
        if len(form) <= LEAK_PIECE:
            pieces.add(form)
        else:
            pieces.update(form[i:i + LEAK_PIECE] for i in range(len(form) - LEAK_PIECE + 1))
    return pieces


def leaks(shape: SecretShape, output: str) -> list[str]:
    return sorted({piece for secret in shape.secrets for piece in leak_pieces(secret)
                   if piece in output})
