"""A small JSON API that produces the whole range of events a production service logs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

import flask_logstash
from sample_service.api import api
from sample_service.health import health
from sample_service.store import ItemStore


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `test_config` may carry `LOGGING` (LoggingSettings) and overrides."""
    app = Flask(__name__)
    app.config.from_mapping(SLOW_MAX_MS=5000, JSON_SORT_KEYS=False)
    if test_config:
        app.config.from_mapping(test_config)
    app.extensions["item_store"] = ItemStore()
    app.register_blueprint(api)
    app.register_blueprint(health)
    flask_logstash.init_app(app, app.config.get("LOGGING"))
    return app
