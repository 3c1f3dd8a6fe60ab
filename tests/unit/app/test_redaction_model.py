"""The redaction model is published as data for the Logstash second line.

tests/corpus/redaction_model.json is the output of
    cd app && python -m flask_logstash.redaction.model > ../tests/corpus/redaction_model.json
and must stay equal to the model the Python redactor uses.
"""

import json
from pathlib import Path

from flask_logstash.redaction import Redactor, model

PUBLISHED = Path(__file__).resolve().parents[2] / "corpus" / "redaction_model.json"


def test_published_model_is_the_one_in_use():
    assert json.loads(PUBLISHED.read_text()) == model.as_dict(), (
        "regenerate: cd app && python -m flask_logstash.redaction.model "
        "> ../tests/corpus/redaction_model.json"
    )


def test_every_published_word_fragment_and_name_is_sensitive_in_use():
    data = json.loads(PUBLISHED.read_text())
    redactor = Redactor()
    for name in data["sensitive_names"]:
        assert redactor.is_sensitive_key(name), name
        assert not redactor.is_sensitive_key(f"{name}_count") or name.startswith(
            tuple(data["sensitive_words"])), name  # names match exactly
    for name in data["sensitive_words"] + data["sensitive_fragments"]:
        assert redactor.is_sensitive_key(name), name
        assert redactor.is_sensitive_key(f"db_{name}_value"), name
    for suffix in data["sensitive_suffixes"]:
        assert redactor.is_sensitive_key(f"github{suffix}"), suffix
