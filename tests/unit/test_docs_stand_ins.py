"""docs/testing.md indexes every stand-in; its pointers must lead somewhere."""

import re

import pytest

from tests.conftest import REPO_ROOT

PAGE = REPO_ROOT / "docs/testing.md"
# Modules that stand in for a real server or tool; a new one belongs in the index.
FAKES = (REPO_ROOT / "tests/support").glob("fake_*.py")
STAND_INS = sorted([*(p.relative_to(REPO_ROOT).as_posix() for p in FAKES),
                    "tests/support/ndjson_listener.py", "tests/support/logstash_config.py",
                    "tests/unit/logstash/logstash_shim.rb"])


@pytest.mark.parametrize("path", STAND_INS)
def test_every_stand_in_is_indexed_and_exists(path):
    assert (REPO_ROOT / path).is_file()
    assert f"`{path}`" in PAGE.read_text()


def test_each_pointer_names_a_page_and_a_section_that_exist():
    pointers = re.findall(r"\[([\w.]+\.md)\]\(\1\), \"([^\"]+)\"", PAGE.read_text())
    assert len(pointers) >= 6
    for page, section in pointers:
        headings = [line.lstrip("#").strip() for line in
                    (REPO_ROOT / "docs" / page).read_text().splitlines() if line.startswith("#")]
        assert any(h.startswith(section) for h in headings), (page, section)
