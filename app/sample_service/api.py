"""The JSON API: reads, writes, validation errors, a slow call, a failure and a login."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from sample_service.store import ItemStore

api = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger("sample_service.api")

# Demo credentials are not a secret: the endpoint exists to show that whatever a client sends
# as password or token never reaches a log.
_DEMO_USER = "demo"


def _store() -> ItemStore:
    return current_app.extensions["item_store"]


def _problem(status: int, detail: str, **fields: Any) -> tuple[Response, int]:
    log.warning("rejected request: %s", detail, extra={"validation": fields})
    return jsonify(error=detail, **fields), status


@api.get("/items")
def list_items() -> Response:
    items = _store().all()
    log.info("listed %d items", len(items))
    return jsonify(items=[item.to_json() for item in items])


@api.get("/items/<int:item_id>")
def get_item(item_id: int) -> Response | tuple[Response, int]:
    item = _store().get(item_id)
    if item is None:
        return _problem(404, "item not found", item_id=item_id)
    return jsonify(item.to_json())


@api.post("/items")
def create_item() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _problem(400, "body must be a JSON object")
    name, price, quantity = body.get("name"), body.get("price_cents"), body.get("quantity", 1)
    if not isinstance(name, str) or not 0 < len(name) <= 80:
        return _problem(422, "name must be a string of 1-80 characters", field="name")
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        return _problem(422, "price_cents must be a non-negative integer", field="price_cents")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        return _problem(422, "quantity must be a non-negative integer", field="quantity")
    item = _store().add(name, price, quantity)
    log.info("created item %d", item.id, extra={"item": item.to_json()})
    return jsonify(item.to_json()), 201


@api.delete("/items/<int:item_id>")
def delete_item(item_id: int) -> tuple[str, int] | tuple[Response, int]:
    if not _store().delete(item_id):
        return _problem(404, "item not found", item_id=item_id)
    log.info("deleted item %d", item_id)
    return "", 204


@api.get("/slow")
def slow() -> Response | tuple[Response, int]:
    raw = request.args.get("ms", "1500")
    if not raw.isdigit():
        return _problem(400, "ms must be a whole number of milliseconds", field="ms")
    delay_ms = min(int(raw), current_app.config["SLOW_MAX_MS"])
    time.sleep(delay_ms / 1000)
    log.info("slow report generated after %d ms", delay_ms)
    return jsonify(report="ready", delay_ms=delay_ms)


@api.get("/fail")
def fail() -> Response:
    # Simulates a bug deep in a call chain, so the stack trace has something to show.
    def settle_invoice(invoice: dict[str, int]) -> float:
        return invoice["total"] / invoice["paid_installments"]

    return jsonify(share=settle_invoice({"total": 100, "paid_installments": 0}))


@api.post("/login")
def login() -> Response | tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("username"), str):
        return _problem(400, "username and password are required")
    # The whole body is logged on purpose: the logging integration must redact it.
    log.info("login attempt for %s", body["username"], extra={"credentials": body})
    password = body.get("password")
    if not isinstance(password, str) or not password:
        abort(400, description="password is required")
    if not hmac.compare_digest(body["username"], _DEMO_USER):
        log.warning("login failed for %s", body["username"])
        return jsonify(error="invalid credentials"), 401
    return jsonify(user=_DEMO_USER, session="issued")
