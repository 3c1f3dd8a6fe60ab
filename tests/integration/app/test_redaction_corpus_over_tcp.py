"""The secret corpus through the real sample app, in every position a secret reaches a log:
zero pieces of any secret in the bytes a Logstash stand-in receives or on stdout, and every
benign value exactly as sent.

The app is the sample service (create_app, flask_logstash.init_app, its real /api/login)
plus a probe blueprint that logs what it is sent the ways application code does: as the
message, as a %s argument, in `extra`, the werkzeug Headers object (as %s and as `extra`),
the raw form and JSON bodies, and in exceptions raised from a generated module, so the
secret is also in a chained exception and in the source lines of the stack trace.
"""

from __future__ import annotations

import importlib.util
import io
import json
import keyword
import logging
import re
import sys
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from flask import Blueprint, request

from flask_logstash.redaction import REDACTED
from tests.corpus import EXTRA_KEYS, benign_values, leaks, secret_shapes
from tests.support.app_events import running_app
from tests.support.ndjson_listener import NdjsonListener

SHAPES = secret_shapes()
BENIGN = benign_values()
probe_log = logging.getLogger("sample_service.probe")
_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): (.+)$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def probe_blueprint(failing, pairs) -> Blueprint:
    probe = Blueprint("probe", __name__)

    def log_value(value: str) -> None:
        probe_log.info(value)
        probe_log.info("value %s", value)
        probe_log.info("probe", extra={"probe": value, "nested": [{"deep": value}]})
        probe_log.info("headers %s", request.headers)
        probe_log.info("headers", extra={"headers": request.headers})
        # The name and value come from the corpus, not the request: a request carrying the
        # bare value would be a leak of the test's own making.
        name, pair_value = pairs.get(request.args.get("id", ""), (None, None))
        if name:
            probe_log.info("pair", extra={"pair": {name: pair_value},
                                          "pairs": [(name, pair_value)]})

    @probe.get("/probe/text")
    def text() -> str:
        log_value(request.args.get("q", ""))
        return "ok"

    @probe.post("/probe/form")
    def form() -> str:
        probe_log.info("form body %s", request.get_data(as_text=True))
        probe_log.info("form", extra={"form": request.form.to_dict(flat=False)})
        return "ok"

    @probe.post("/probe/json")
    def json_body() -> str:
        probe_log.info("json body %s", request.get_data(as_text=True))
        probe_log.info("json", extra={"body": request.get_json()})
        return "ok"

    @probe.get("/probe/raise/<key>")
    def raise_(key: str) -> str:
        failing[key]()
        return "unreachable"

    return probe


def failing_module(tmp_path, shapes, values):
    """A module whose functions raise with the secret in the message, in a chained
    exception and in the source line of the failing call (as code with a literal does)."""
    lines = ["def connect(*args, **kwargs):",
             "    raise ValueError(*args, *(f'{k}={v!r}' for k, v in kwargs.items()))", ""]
    keys = {}
    for index, (shape_id, text, name, value) in enumerate(shapes):
        as_keyword = name and _IDENTIFIER.match(name) and not keyword.iskeyword(name)
        call = f"connect({name}={value!r})" if as_keyword else f"connect({text!r})"
        lines += [f"def fail_{index}():", "    try:", f"        {call}",
                  "    except ValueError as exc:",
                  f"        raise RuntimeError({text!r}) from exc", ""]
        keys[shape_id] = f"fail_{index}"
    for index, value in enumerate(values):
        lines += [f"def benign_{index}():", f"    raise ValueError({value!r})", ""]
        keys[f"benign-{index}"] = f"benign_{index}"
    path = tmp_path / "failing_calls.py"
    path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location("failing_calls", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {key: getattr(module, name) for key, name in keys.items()}


def headers_for(shape) -> dict[str, str]:
    headers = {}
    if not shape.no_header:
        line = _HEADER_LINE.match(shape.text)
        if line:
            headers[line.group(1)] = line.group(2)
        else:
            headers["X-Probe"] = shape.text
    if shape.name and _IDENTIFIER.match(shape.name.replace("-", "_")):
        headers[shape.name] = shape.dict_value
    return headers


@dataclass
class Run:
    raw: str
    stdout: str
    events: list[dict]
    request_ids: dict[str, list[str]]


def send_everything(app, shape_id, text, raw_query, name, value, headers):
    client = app.test_client()
    args = {"q": text, "id": shape_id}
    query = raw_query + "&" + "&".join(f"{k}={quote(v, safe='')}" for k, v in args.items())
    body = {"username": "demo", "note": text}
    if name:
        body[name] = value
    responses = [
        client.get("/probe/text?" + query, headers=headers),
        client.post("/probe/form", data=raw_query.encode(),
                    content_type="application/x-www-form-urlencoded"),
        client.post("/probe/json", json=body),
        client.post("/api/login?" + raw_query, json=body),
        client.get(f"/probe/raise/{shape_id}"),
    ]
    return [resp.headers["X-Request-ID"] for resp in responses]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    shapes = [(s.id, s.text, s.name, s.dict_value) for s in SHAPES]
    failing = failing_module(tmp_path_factory.mktemp("probe"), shapes, BENIGN)
    stdout, saved = io.StringIO(), sys.stdout
    request_ids: dict[str, list[str]] = {}
    with NdjsonListener() as listener:
        sys.stdout = stdout  # the stdout handler binds sys.stdout when logging starts
        try:
            with running_app(listener, json_stdout=True,
                             redact_extra_keys=EXTRA_KEYS) as app:
                sys.stdout = saved
                pairs = {s.id: (s.name, s.dict_value) for s in SHAPES if s.name}
                app.register_blueprint(probe_blueprint(failing, pairs))
                sent = 0

                def delivered(count):
                    # Paced per value: a burst of thousands of records would measure the
                    # hand-off queue, not redaction.
                    listener.wait_for(lambda evs: sum(
                        e["event"]["dataset"] == "flask.access" for e in evs) >= count, 30)

                for shape in SHAPES:
                    request_ids[shape.id] = send_everything(
                        app, shape.id, shape.text, shape.raw_query, shape.name,
                        shape.dict_value, headers_for(shape))
                    sent += len(request_ids[shape.id])
                    delivered(sent)
                for index, value in enumerate(BENIGN):
                    request_ids[f"benign-{index}"] = send_everything(
                        app, f"benign-{index}", value, "q=" + quote(value, safe=""), None,
                        None, {"X-Probe": value})
                    sent += len(request_ids[f"benign-{index}"])
                    delivered(sent)
        finally:
            sys.stdout = saved
        return Run(listener.raw_text(), stdout.getvalue(), list(listener.events),
                   request_ids)


def where_it_leaked(shape, output):
    """The leaking pieces in context, for a readable failure."""
    found = []
    for piece in leaks(shape, output):
        at = output.find(piece)
        found.append(output[max(0, at - 120):at + 40])
    return found[:3]


def events_of(run, request_id):
    # Delivery is at least once: a batch whose acknowledgement came late on a loaded machine
    # is sent again, and Logstash's document id (event.id) keeps one copy. Count as it does.
    unique = {}
    for event in run.events:
        if event.get("http", {}).get("request", {}).get("id") == request_id:
            unique.setdefault(event["event"]["id"], event)
    return list(unique.values())


@pytest.mark.parametrize("shape", SHAPES, ids=[s.id for s in SHAPES])
def test_no_piece_of_a_secret_reaches_the_wire_or_stdout(run, shape):
    assert not leaks(shape, run.raw), where_it_leaked(shape, run.raw)
    assert not leaks(shape, run.stdout)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.id for s in SHAPES])
def test_every_position_carried_the_secret_and_was_redacted(run, shape):
    text_events, form, json_events, login, raised = (
        events_of(run, rid) for rid in run.request_ids[shape.id])
    assert len(text_events) >= 6  # five probe records (six with a name) and the access event
    assert len(form) == len(json_events) == 3
    assert len(login) >= 2
    assert [e for e in raised if e.get("error", {}).get("stack_trace")]
    for events in (text_events, form, json_events, raised):
        assert REDACTED in json.dumps(events)


def test_stack_traces_hold_the_failing_source_line_and_the_chained_exception(run):
    (error,) = [e for e in events_of(run, run.request_ids["snake_prefix"][4])
                if e.get("error")]
    trace = error["error"]["stack_trace"]
    assert f"connect(db_password='{REDACTED}')" in trace
    assert "The above exception was the direct cause" in trace
    assert error["error"]["message"] == f"db_password={REDACTED}"


@pytest.mark.parametrize("index", range(len(BENIGN)), ids=BENIGN)
def test_benign_values_arrive_exactly_as_sent(run, index):
    value = BENIGN[index]
    text_events, form, json_events, _, raised = (
        events_of(run, rid) for rid in run.request_ids[f"benign-{index}"])
    messages = [e["message"] for e in text_events]
    assert value in messages
    assert f"value {value}" in messages
    (extra,) = [e["flask"]["extra"] for e in text_events if e["message"] == "probe"]
    assert extra["probe"] == value
    assert [e["flask"]["extra"]["form"]["q"] for e in form if e["message"] == "form"] == [
        [value]]
    assert [e["flask"]["extra"]["body"]["note"] for e in json_events
            if e["message"] == "json"] == [value]
    assert [e["error"]["message"] for e in raised if e.get("error")] == [value]
    escaped = json.dumps(value, ensure_ascii=False)[1:-1]
    assert escaped in run.stdout

