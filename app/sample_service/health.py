"""Liveness and readiness probes."""

from __future__ import annotations

import signal
import threading

from flask import Blueprint, Response, jsonify

health = Blueprint("health", __name__)
_draining = threading.Event()


def start_draining() -> None:
    """From now on /readyz says no, so a load balancer stops sending new requests."""
    _draining.set()


@health.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    if _draining.is_set():
        return jsonify(status="draining"), 503
    return jsonify(status="ready"), 200


def install_drain_on_sigterm() -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def _on_term(signum: int, frame: object) -> None:
        start_draining()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, _on_term)
