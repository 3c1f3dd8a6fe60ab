"""Every request gets its request id and its access event, whatever hooks the app registered
before `init_app` and whatever they do."""

from flask import Flask, abort

import flask_logstash
from flask_logstash import LoggingSettings
from tests.support.ndjson_listener import NdjsonListener


def make_app() -> Flask:
    app = Flask(__name__)

    @app.before_request
    def auth_check():  # registered before init_app, as an app's own auth often is
        from flask import request

        if request.path == "/denied":
            return {"error": "unauthorised"}, 401
        if request.path == "/broken":
            raise RuntimeError("auth backend down")
        if request.path == "/aborted":
            abort(403)
        return None

    @app.get("/ok")
    def ok():
        return {"ok": True}

    return app


def test_early_hooks_that_answer_or_raise_still_get_ids_and_access_events():
    with NdjsonListener() as listener:
        flask_logstash.shutdown_logging()
        app = make_app()
        flask_logstash.init_app(app, LoggingSettings(logstash_port=listener.port))
        try:
            client = app.test_client()
            responses = {path: client.get(path) for path in
                         ("/ok", "/denied", "/broken", "/aborted")}
            events = listener.wait_for(
                lambda evs: sum(e["event"]["dataset"] == "flask.access" for e in evs) >= 4, 10
            )
        finally:
            flask_logstash.shutdown_logging()
    statuses = {path: r.status_code for path, r in responses.items()}
    assert statuses == {"/ok": 200, "/denied": 401, "/broken": 500, "/aborted": 403}
    access = {e["url"]["path"]: e for e in events if e["event"]["dataset"] == "flask.access"}
    assert set(access) == set(responses)
    for path, response in responses.items():
        request_id = response.headers.get("X-Request-ID")
        assert request_id, path
        assert access[path]["http"]["request"]["id"] == request_id
        assert access[path]["http"]["response"]["status_code"] == response.status_code


def test_a_faulty_log_call_in_a_view_does_not_fail_the_request(capfd, monkeypatch):
    import logging

    # Only the app's own handlers: pytest's log capture re-raises logging errors on purpose.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    app = Flask(__name__)

    @app.get("/count")
    def count():
        logging.getLogger("app.view").info("%d items", "many")  # wrong type for %d
        return {"ok": True}

    with NdjsonListener() as listener:
        flask_logstash.shutdown_logging()
        flask_logstash.init_app(app, LoggingSettings(logstash_port=listener.port))
        try:
            response = app.test_client().get("/count")
            events = listener.wait_for(lambda evs: len(evs) >= 2, 10)
        finally:
            flask_logstash.shutdown_logging()
    assert response.status_code == 200
    (app_event,) = [e for e in events if e["log"]["logger"] == "app.view"]
    assert app_event["message"] == "%d items"
    assert app_event["http"]["request"]["id"] == response.headers["X-Request-ID"]
    assert "--- Logging error ---" in capfd.readouterr().err
