"""The access event is made as Logger.log would make it (without its caller search): the
logger's level, filters, `disabled` flag and record factory all apply, and the record says
it comes from the package's after-request hook."""

import logging
import sys

import pytest
from flask import Flask

from flask_logstash import request_context
from flask_logstash.request_context import access_logger, install_request_hooks
from flask_logstash.settings import LoggingSettings
from tests.support.records import KeepRecords


@pytest.fixture
def keep():
    handler = KeepRecords()
    old = access_logger.level, access_logger.disabled, list(access_logger.filters)
    access_logger.addHandler(handler)
    access_logger.setLevel(logging.INFO)
    yield handler
    access_logger.removeHandler(handler)
    access_logger.level, access_logger.disabled, access_logger.filters = old[0], old[1], old[2]


def serve(path="/ok"):
    app = Flask(__name__)
    install_request_hooks(app, LoggingSettings())
    app.add_url_rule("/ok", "ok", lambda: "fine")
    return app.test_client().get(path)


def test_the_record_names_the_hook_that_made_it(keep):
    serve()
    (record,) = keep.records
    assert record.pathname == request_context.__file__
    assert record.funcName == "_finish"
    assert record.module == "request_context"
    with open(record.pathname, encoding="utf-8") as source:
        lines = source.read().splitlines()
    assert "access_logger" in lines[record.lineno - 1]  # a line of the makeRecord call
    assert record.getMessage().startswith("GET /ok 200 ")


def test_level_filters_and_disabled_apply(keep):
    access_logger.setLevel(logging.WARNING)
    serve()
    assert keep.records == []  # a 200 is INFO
    serve("/missing")
    assert [r.levelno for r in keep.records] == [logging.WARNING]
    access_logger.setLevel(logging.INFO)
    access_logger.addFilter(lambda record: record.ecs["http"]["response"]["status_code"] != 200)
    serve()
    assert len(keep.records) == 1
    access_logger.filters.clear()
    access_logger.disabled = True
    serve("/missing")
    assert len(keep.records) == 1


def test_a_record_factory_is_used(keep):
    made = []
    original = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = original(*args, **kwargs)
        made.append(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        serve()
    finally:
        logging.setLogRecordFactory(original)
    assert made
    assert made[-1] is keep.records[-1]


def test_with_caller_lookup_turned_off_the_record_says_so_as_logger_log_does(keep, monkeypatch):
    # The logging HOWTO's way to skip the caller lookup: logging._srcfile = None.
    monkeypatch.setattr(logging, "_srcfile", None)
    serve()
    (record,) = keep.records
    assert (record.pathname, record.lineno, record.funcName) == (
        "(unknown file)", 0, "(unknown function)")


def test_the_line_is_the_one_findcaller_would_name(keep):
    # findCaller names the caller frame's line during the call: where the call starts.
    seen = []
    original = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_name != "_finish":
            frame = frame.f_back
        seen.append(frame.f_lineno)
        return original(*args, **kwargs)

    logging.setLogRecordFactory(factory)
    try:
        serve()
    finally:
        logging.setLogRecordFactory(original)
    assert keep.records[-1].lineno == seen[0]


def test_a_logger_subclass_gets_its_own_log_method(keep, monkeypatch):
    calls = []

    class Counting(logging.Logger):
        def log(self, level, msg, *args, **kwargs):
            calls.append(level)
            super().log(level, msg, *args, **kwargs)

    monkeypatch.setattr(access_logger, "__class__", Counting)
    serve()
    assert calls == [logging.INFO]
    assert keep.records[-1].getMessage().startswith("GET /ok 200 ")
