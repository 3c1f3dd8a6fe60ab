"""The end-to-end suite's own helpers, which can be exercised without Docker."""

import json
import subprocess
import sys

import pytest

from tests.e2e.stack import poll, raw_lines_script
from tests.support.ndjson_listener import NdjsonListener


def test_poll_returns_the_first_truthy_result():
    values = iter([None, [], {"ok": 1}])
    assert poll(lambda: next(values), timeout=5, what="x", interval=0) == {"ok": 1}


def test_poll_retries_through_errors_then_names_what_it_waited_for():
    def failing():
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match=r"the access event.*refused"):
        poll(failing, timeout=0.05, what="the access event", interval=0.01)


def test_raw_lines_script_sends_lines_byte_for_byte():
    lines = ['{"a": "quote \\" and \'single\'"}', "not json at all", json.dumps({"n": 1})]
    with NdjsonListener() as listener:
        subprocess.run([sys.executable, "-c", raw_lines_script("127.0.0.1", listener.port, lines)],
                       check=True, timeout=30)
        listener.wait_for(lambda evs: len(evs) == 2)
        assert listener.raw_text() == "".join(line + "\n" for line in lines)
